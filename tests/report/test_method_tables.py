"""The report's methods beside RotNet: rows, epochs at equal cost, the peers, the t-SNE records."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from rotnet import paths
from rotnet.params import parse_params
from rotnet.report.method_results import method_records, method_rows, tsne_records
from rotnet.report.method_tables import equal_cost_epochs, methods_section, tsne_section
from rotnet.report.results import DatasetResults

RUN = {"epochs": 200, "wall_time_s": 10.0, "images_per_s": 100.0, "device": "cpu"}


def _pretrain(knn_test: float) -> dict:
    return {"knn_val_acc": knn_test + 1, "knn_test_acc": knn_test, "knn": {"k": 200, "temperature": 0.1}, **RUN}


def _probe(best_test: float) -> dict:
    layers = {
        "block1": {"linear": {"val_acc": 50.0, "test_acc": 49.0}},
        "block2": {"linear": {"val_acc": 60.0, "test_acc": best_test}},
    }
    knn = {"block1": {"val_acc": 40.0, "test_acc": 41.0}, "block2": {"val_acc": 45.0, "test_acc": 44.0}}
    return {"layers": layers, "knn": knn, "best": {"layer": "block2", "head": "linear"}, **RUN}


def _rows(dataset: str) -> tuple[DatasetResults, pd.DataFrame]:
    methods = {"nin": {"simclr": {"pretrain": _pretrain(70.0), "probe": _probe(72.0)}}}
    rows = method_rows(dataset, "data", "nin", "simclr", methods["nin"]["simclr"])
    rows.append({"dataset": dataset, "backbone": "nin", "method": "rotnet probe", "layer": "block2", "head": "conv"})
    rows[-1] |= {"val_acc": 80.0, "test_acc": 79.0, "test_std": None}
    records = {"nin": {"pretrain": {"epochs": 100}}}
    ds = DatasetResults(dataset, "data", records, histories={}, methods=methods)
    return ds, pd.DataFrame(rows)


def test_method_rows_name_the_method_and_keep_the_probe_shape():
    _, rows = _rows("cifar10")
    monitor = rows[rows.method == "simclr monitor"].iloc[0]
    assert monitor.stage == "ssl_pretrain/simclr" and monitor["head"] == "knn k=200 T=0.1" and monitor.test_acc == 70.0
    probe = rows[rows.stage == "ssl_probe/simclr"]
    assert set(probe.method) == {"simclr probe", "simclr knn"} and len(probe) == 2 + 2


def test_equal_cost_epochs_come_from_the_engine_throughput():
    table = {"nin-rotation": {"engine": 10_000.0}, "nin-simclr": {"engine": 4_000.0}}
    # RotNet trains 4 copies of each image, SimCLR 2 views: per source image they cost differently.
    assert equal_cost_epochs(table, "nin", "simclr", 200) == pytest.approx(80.0)
    assert equal_cost_epochs(table, "nin", "byol", 200) is None  # not measured: no figure invented
    assert equal_cost_epochs({}, "nin", "simclr", 200) is None


def test_methods_section_shows_epochs_cost_and_the_peers_on_cifar10_only():
    ds, rows = _rows("cifar10")
    gpu = (Path("2026-12-01-h200.json"), {"device": "H200", "date": "2026-12-01", "throughput": {"table": {}}})
    gpu[1]["throughput"]["table"] = {"nin-rotation": {"engine": 9000.0}, "nin-simclr": {"engine": 4500.0}}
    text = "\n".join(methods_section(ds, rows, gpu))
    assert "| nin | RotNet | 100 | – | 79.00 (block2 conv) | – |" in text
    assert "| nin | SimCLR | 200 | 70.00 | 72.00 (block2 linear) | 50 |" in text  # 100 x 4500 / 9000
    assert "H200, 2026-12-01" in text
    assert "| SimCLR on nin, 200 ep | 70.00 | 84.80 | 87.90 | 90.74 |" in text
    assert "best *test* epoch" in text and "1000 epochs" in text  # each peer figure with its protocol
    assert "Smoke" not in text  # 200 epochs: the published scale
    ds.methods["nin"]["simclr"]["pretrain"]["epochs"] = 1
    assert "**Smoke, not a result:** SimCLR 1 epoch on cpu." in "\n".join(methods_section(ds, rows, gpu))
    other, other_rows = _rows("shapes")
    shapes = "\n".join(methods_section(other, other_rows, None))
    assert "84.80" not in shapes and "none committed yet" in shapes
    bare = DatasetResults("cifar10", "data", {}, histories={})
    assert methods_section(bare, rows, gpu) == []


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
    ds = DatasetResults("cifar10", "data", {}, histories={}, tsne=found)
    text = "\n".join(tsne_section(ds))
    assert "RotNet (block2, 3 images), SimCLR (block2, 3 images)" in text
    assert "![t-SNE, nin](report_files/cifar10_nin_tsne.png)" in text
