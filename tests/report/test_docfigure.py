"""The README's picture of the report (rotnet.report.docfigure): drawn from a committed quick
result, the same bytes on every run, one panel per backbone with every head's curve."""

import json

from rotnet.report.docfigure import draw, probe_layers

PROBE = {
    "layers": {
        "block1": {"nonlinear": {"val_acc": 35.2, "test_acc": 36.9}, "linear": {"val_acc": 38.8, "test_acc": 36.2}},
        "block2": {"linear": {"val_acc": 42.2, "test_acc": 37.9}, "conv": {"val_acc": 35.8, "test_acc": 37.5}},
    },
    "knn": {"block1": {"val_acc": 28.4, "test_acc": 29.9}, "block2": {"val_acc": 34.0, "test_acc": 33.2}},
}


def test_probe_layers_reads_every_maps_test_figures_by_head(tmp_path):
    folder = tmp_path / "metrics" / "runs" / "cifar10" / "nin"
    folder.mkdir(parents=True)
    (folder / "probe.json").write_text(json.dumps(PROBE))
    (folder / "pretrain.json").write_text("{}")  # other stages' metrics are not read
    layers = probe_layers(tmp_path)
    assert layers == {
        "cifar10": {
            "nin": {
                "block1": {"nonlinear": 36.9, "linear": 36.2, "knn": 29.9},
                "block2": {"linear": 37.9, "conv": 37.5, "knn": 33.2},
            }
        }
    }


def test_the_picture_is_the_same_bytes_every_time_and_names_what_it_shows(tmp_path):
    folder = tmp_path / "metrics" / "runs" / "cifar10" / "nin"
    folder.mkdir(parents=True)
    (folder / "probe.json").write_text(json.dumps(PROBE))
    data = {
        "date": "2026-12-03",
        "device": "CPU (2 threads)",
        "summary": {"cifar10": {"nin": {"supervised": 37.7}}},
        "probe_layers": probe_layers(tmp_path),
    }
    svg = draw(data)
    assert svg == draw(data) and svg.startswith(b"<?xml")
    other = draw({**data, "summary": {"cifar10": {"nin": {"supervised": 50.0}}}})
    assert other != svg  # the figures reach the picture
    assert b"Date" not in svg  # no timestamp: a rerun of make docs changes nothing
