"""The methods' run records and t-SNE points as the report reads them, and their report.csv rows."""

from __future__ import annotations

import json
import os

from rotnet import paths
from rotnet.params import parse_params
from rotnet.report.method_results import method_records, tsne_records
from tests.report.test_method_tables import _pretrain, _rows


def test_method_rows_name_the_method_and_keep_the_probe_shape():
    _, rows = _rows("cifar10")
    monitor = rows[rows.method == "simclr monitor"].iloc[0]
    assert monitor.stage == "ssl_pretrain/simclr" and monitor["head"] == "knn k=200 T=0.1" and monitor.test_acc == 70.0
    probe = rows[rows.stage == "ssl_probe/simclr"]
    assert set(probe.method) == {"simclr probe", "simclr knn"} and len(probe) == 2 + 2
    fine = rows[rows.stage == "ssl_finetune/simclr-conv"].iloc[0]
    assert fine.method == "simclr finetune" and fine.layer == "block2" and fine.test_acc == 75.0


def test_tsne_records_are_read_where_each_probe_stage_writes_them(tmp_path):
    params = parse_params({"study": {"backbones": ["nin"], "methods": ["simclr", "byol"]}})
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        points = {"layer": "block2", "images": 3, "x": [0, 1, 2], "y": [0, 1, 2], "labels": [0, 1, 0]}
        for kind in ("probe", "ssl_probe/simclr"):
            folder = paths.model_dir(kind, "cifar10", "nin")
            folder.mkdir(parents=True)
            (folder / "tsne.json").write_text(json.dumps(points))
        off = paths.model_dir("ssl_probe/byol", "cifar10", "nin")
        off.mkdir(parents=True)
        (off / "tsne.json").write_text(json.dumps({"images": 0, "why": "probe.tsne_images is 0"}))
        found = tsne_records(params, "cifar10")
        assert list(found["nin"]) == ["rotnet", "simclr"]  # BYOL drew none: no empty panel
        record_dir = paths.model_dir("ssl_pretrain/simclr", "cifar10", "nin")
        record_dir.mkdir(parents=True)
        (record_dir / "run.json").write_text(json.dumps(_pretrain(60.0)))
        assert set(method_records(params, "cifar10")["nin"]["simclr"]) == {"pretrain"}
    finally:
        os.chdir(here)
