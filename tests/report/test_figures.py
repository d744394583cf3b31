"""Figures: each written atomically as a valid PNG."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rotnet.report import figures

PNG = b"\x89PNG\r\n\x1a\n"


def _valid_png(path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == PNG
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        return img.size


def _only(folder, name):
    """The target is there and no temporary file is left beside it."""
    assert sorted(p.name for p in folder.iterdir()) == [name]


def test_file_names_are_relative_and_never_shared():
    # Relative to the report folder, so report.md and report.html find them wherever it is copied.
    names = [figures.PROBE_FIGURE] + [
        figures.dataset_figure(d, w) for d in ("cifar10", "fashion_mnist") for w in ("curves", "confusion")
    ]
    assert len(set(names)) == len(names) and not any(name.startswith("/") for name in names)
    assert figures.dataset_figure("cifar10", "curves") == "report_files/cifar10_curves.png"


def test_probe_plot_one_panel_per_dataset_and_backbone(results, tmp_path):
    figures.probe_plot(results.accuracies, tmp_path / "report.png")
    _only(tmp_path, "report.png")
    width, _ = _valid_png(tmp_path / "report.png")
    assert width == 4 * 450  # 2 datasets x 2 backbones, 4.5 in at 100 dpi each


def test_training_curves(results, tmp_path):
    ds = results.datasets["cifar10"]
    figures.training_curves(ds.histories, "cifar10", tmp_path / "c.png")
    _only(tmp_path, "c.png")
    _valid_png(tmp_path / "c.png")


def test_confusion_matrix(tmp_path):
    figures.confusion_matrix([[4, 1, 0], [0, 3, 1], [0, 0, 0]], ["a", "b", "c"], "t", tmp_path / "m.png")
    _only(tmp_path, "m.png")
    _valid_png(tmp_path / "m.png")


@pytest.mark.parametrize("channels", [1, 3])
def test_sample_grid(tmp_path, channels):
    images = np.random.default_rng(0).integers(0, 256, (10, 8, 8, channels), dtype=np.uint8)
    true, pred = [0, 1] * 5, [0, 0] * 5
    figures.sample_grid(images, true, pred, ["a", "b"], "t", tmp_path / "s.png")
    _only(tmp_path, "s.png")
    _valid_png(tmp_path / "s.png")


def test_semisup_figure(results, tmp_path):
    figures.semisup_figure(results.datasets["cifar10"], tmp_path / "x.png")
    _only(tmp_path, "x.png")
    _valid_png(tmp_path / "x.png")


def test_semisup_figure_labels_the_reference_curves_as_the_re_run(results, tmp_path, monkeypatch):
    """The few-labels reference curves are a later re-run's, not figures the paper printed."""
    import matplotlib.axes

    labels: list[str] = []
    real = matplotlib.axes.Axes.plot
    monkeypatch.setattr(
        matplotlib.axes.Axes, "plot", lambda ax, *a, **k: labels.append(k.get("label")) or real(ax, *a, **k)
    )
    figures.semisup_figure(results.datasets["cifar10"], tmp_path / "x.png")
    reference = [lb for lb in labels if lb and "re-run" in lb]
    assert reference == ["fig. 5b re-run: RotNet + conv (frozen)", "fig. 5b re-run: scratch"]
    assert not any(lb and "paper" in lb for lb in labels)


def test_tsne_figure_one_panel_per_method(tmp_path):
    rng = np.random.default_rng(0)
    panel = {"images": 30, "x": list(rng.normal(size=30)), "y": list(rng.normal(size=30)), "labels": [0, 1, 2] * 10}
    panels = {"RotNet (block2)": panel, "SimCLR (block3)": panel}
    figures.tsne_figure(panels, ["a", "b", "c"], "cifar10 / nin: test features", tmp_path / "t.png")
    _only(tmp_path, "t.png")
    width, height = _valid_png(tmp_path / "t.png")
    assert (width, height) == (2 * 360, 400)  # 3.6 in per panel, 4 in tall, at 100 dpi
    with pytest.raises(ValueError, match="at least one panel"):
        figures.tsne_figure({}, ["a"], "t", tmp_path / "u.png")
