"""The report's methods beside RotNet: rows, epochs at equal cost, the peers, the t-SNE records."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rotnet.report.method_results import method_rows
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
    fine = {"val_acc": 76.0, "test_acc": 75.0, "layer": "block2", **RUN}
    semi = {"points": [{"labels_per_class": 20, "rotnet": {"test_acc": 40.0}}]}
    methods = {"nin": {"simclr": {"pretrain": _pretrain(70.0), "probe": _probe(72.0), "finetune/conv": fine}}}
    methods["nin"]["simclr"]["semisup"] = semi
    rows = method_rows(dataset, "data", "nin", "simclr", methods["nin"]["simclr"])
    rows.append({"dataset": dataset, "backbone": "nin", "method": "rotnet probe", "layer": "block2", "head": "conv"})
    rows[-1] |= {"val_acc": 80.0, "test_acc": 79.0, "test_std": None}
    records = {"nin": {"pretrain": {"epochs": 100}}}
    rot_semi = {"backbone": "nin", "points": [{"labels_per_class": 20, "scratch": {"test_acc": 30.0}}]}
    rot_semi["points"][0]["rotnet"] = {"test_acc": 45.0}
    ds = DatasetResults(dataset, "data", records, histories={}, semisup=[rot_semi], methods=methods)
    return ds, pd.DataFrame(rows)


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
    assert "| nin | RotNet | 100 | – | 79.00 (block2 conv) | – | – |" in text
    # fine-tuned from SimCLR's weights; equal cost 100 x 4500 / 9000
    assert "| nin | SimCLR | 200 | 70.00 | 72.00 (block2 linear) | 75.00 (block2 conv) | 50 |" in text
    assert "| backbone | labels per class | scratch | RotNet frozen | SimCLR (same arm) |" in text
    assert "| nin | 20 | 30.00 | 45.00 | 40.00 |" in text  # the few-labels arm on each backbone
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


def test_tsne_section_names_each_methods_map_and_links_the_figure():
    found = {"nin": {"rotnet": {"layer": "block2", "images": 3}, "simclr": {"layer": "block3", "images": 3}}}
    text = "\n".join(tsne_section(DatasetResults("cifar10", "data", {}, histories={}, tsne=found)))
    assert "RotNet (block2, 3 images), SimCLR (block3, 3 images)" in text
    assert "![t-SNE, nin](report_files/cifar10_nin_tsne.png)" in text
    assert tsne_section(DatasetResults("cifar10", "data", {}, histories={})) == []
