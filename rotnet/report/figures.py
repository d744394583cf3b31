"""Every figure of the report: the probe plot, training curves, a confusion matrix, a grid
of test images with predicted and true labels, the few-labels curve and the t-SNE of the
features. Each is written atomically. The file names live here too, so the markdown and the stage agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rotnet.atomic import atomic_path
from rotnet.report.paper import PAPER_DATASET, SEMISUP_LABELS, SEMISUP_ROTNET, SEMISUP_SCRATCH, SEMISUP_SOURCE

if TYPE_CHECKING:
    from rotnet.report.results import DatasetResults

PROBE_FIGURE = "report.png"  # beside report.md
FILES = "report_files"  # the per-dataset figures, beside report.md / report.html, referenced relatively


def dataset_figure(dataset: str, what: str) -> str:
    """A dataset's figure, relative to the report folder: report_files/<dataset>_<what>.png."""
    return f"{FILES}/{figure_name(dataset, what)}"


def figure_name(dataset: str, what: str) -> str:
    """A dataset's figure, in the report_files folder."""
    return f"{dataset}_{what}.png"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, target: Path) -> None:
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    pyplot().close(fig)


def training_curves(histories: dict[str, dict[str, pd.DataFrame]], title: str, target: Path) -> None:
    """Validation accuracy per epoch: one panel per backbone, one line per stage."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(histories), figsize=(4.5 * len(histories), 3.4), squeeze=False)
    for ax, (backbone, stages) in zip(axes[0], histories.items(), strict=True):
        for stage, h in stages.items():
            cols = [c for c in h.columns if c.startswith("val_acc/")]
            # A probe has one column per head: plot the best head's curve.
            col = max(cols, key=lambda c: h[c].max())
            ax.plot(h["epoch"], h[col], marker=".", label=f"{stage} ({col.split('/', 1)[1]})")
        ax.set_title(f"{title} / {backbone}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, target)


def confusion_matrix(confusion: list[list[int]], class_names: list[str], title: str, target: Path) -> None:
    plt = pyplot()
    conf = np.asarray(confusion, dtype=float)
    rates = conf / np.maximum(conf.sum(1, keepdims=True), 1) * 100
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=100)
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f"{rates[i, j]:.0f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if rates[i, j] > 50 else "black",
            )
    ax.set_xticks(range(n), class_names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, target)


def sample_grid(
    images: np.ndarray, true: list[int], pred: list[int], class_names: list[str], title: str, target: Path
) -> None:
    """Test images with predicted / true labels; wrong predictions in red."""
    plt = pyplot()
    cols = 8
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, t, p in zip(axes.flat, images, true, pred, strict=False):
        ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None)
        ax.set_title(f"{class_names[p]}\n({class_names[t]})", fontsize=6, color="black" if p == t else "red")
    fig.suptitle(f"{title}: predicted (true)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, target)


def semisup_plot(
    points: list[dict], paper: dict[str, tuple[list[int], list[float]]] | None, title: str, target: Path
) -> None:
    """Test accuracy against labelled images per class, ours (and the paper's) on a log axis."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for backbone in dict.fromkeys(p["backbone"] for p in points):
        pts = [p for p in points if p["backbone"] == backbone]
        n = [p["labels_per_class"] for p in pts]
        ax.plot(n, [p["rotnet"]["test_acc"] for p in pts], marker="o", label=f"{backbone}: RotNet + conv head")
        ax.plot(n, [p["scratch"]["test_acc"] for p in pts], marker="s", label=f"{backbone}: from scratch")
    for label, (n, acc) in (paper or {}).items():
        ax.plot(n, acc, "--", marker="x", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("labelled images per class")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, target)


def probe_plot(accuracies: pd.DataFrame, target: Path) -> None:
    """Probe test accuracy per feature map: one panel per dataset x backbone, one line per
    head and one for the kNN probe, with the paper's figures and the supervised accuracy
    for reference."""
    plt = pyplot()
    studied = accuracies[accuracies.stage != "baseline"]  # baselines have no RotNet to probe
    groups = list(studied.groupby(["dataset", "backbone"], sort=False))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.8), squeeze=False)
    for ax, ((dataset, backbone), g) in zip(axes[0], groups, strict=False):
        probes = g[g.method == "rotnet probe"]
        layers = list(dict.fromkeys(probes.layer))
        for head, hg in probes.groupby("head", sort=False):
            ax.plot(layers, hg.set_index("layer").test_acc.reindex(layers), marker="o", label=f"RotNet {head} probe")
        knn = g[g.method == "rotnet knn"]
        if len(knn):
            ax.plot(layers, knn.set_index("layer").test_acc.reindex(layers), marker="^", label="RotNet kNN")
        paper = probes[probes.paper_acc.notna()]
        if len(paper):
            ax.plot(list(paper.layer), list(paper.paper_acc), "k--", marker="x", label="paper (official CIFAR-10)")
        sup = g[g.method == "supervised"].test_acc.iloc[0]
        ax.axhline(sup, color="gray", linestyle=":", label="supervised")
        ax.set_title(f"{dataset} / {backbone}\n{g.data.iloc[0]}", fontsize=9)
        ax.set_xlabel("feature map")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, target)


def semisup_figure(ds: DatasetResults, target: Path) -> None:
    """The few-labels curve of every semisup backbone, with the paper's on CIFAR-10."""
    paper = None
    if ds.dataset == PAPER_DATASET:
        paper = {
            f"{SEMISUP_SOURCE}: RotNet + conv (frozen)": (SEMISUP_LABELS, SEMISUP_ROTNET),
            f"{SEMISUP_SOURCE}: scratch": (SEMISUP_LABELS, SEMISUP_SCRATCH),
        }
    semisup_plot(ds.semisup_points, paper, f"{ds.dataset}: {ds.semisup[0]['data']}", target)


def tsne_figure(panels: dict[str, dict], class_names: list[str], title: str, target: Path) -> None:
    """One t-SNE scatter per panel (title: its key, e.g. "RotNet (block2)"; value: a
    probing.tsne.tsne_points dict), points coloured by class, one legend for all. The axes
    carry no scale: t-SNE keeps neighbourhoods, not distances."""
    if not panels:
        raise ValueError("tsne_figure needs at least one panel")
    plt = pyplot()
    colours = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20").colors
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 4.0), squeeze=False)
    for ax, (name, p) in zip(axes[0], panels.items(), strict=True):
        ax.scatter(p["x"], p["y"], c=[colours[y % len(colours)] for y in p["labels"]], s=2, linewidths=0)
        ax.set_title(f"{name}\n{p['images']} test images", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=colours[i % len(colours)], label=c)
        for i, c in enumerate(class_names)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(class_names), 10), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.07 * (1 + (len(class_names) - 1) // 10), 1, 1))
    save_figure(fig, target)
