"""The report's few-labels table: RotNet vs training from scratch (the paper's fig. 5b),
with how each arm was trained and selected."""

from __future__ import annotations

from typing import Any

from rotnet.report.figures import dataset_figure
from rotnet.report.paper import (
    PAPER_DATA,
    PAPER_DATASET,
    SEMISUP_LABELS,
    SEMISUP_ROTNET,
    SEMISUP_SCRATCH,
    SEMISUP_SOURCE,
    SEMISUP_SOURCE_LONG,
)
from rotnet.report.results import DatasetResults, Record
from rotnet.report.tables import (
    Column,
    PlusMinus,
    column_table,
    paper_differences,
)

# --- few labels: RotNet vs scratch (paper fig. 5b) ------------------------------------

# labels per class -> (paper RotNet, paper scratch)
PAPER_SEMISUP = dict(zip(SEMISUP_LABELS, zip(SEMISUP_ROTNET, SEMISUP_SCRATCH, strict=True), strict=True))


def semisup_rows(ds: DatasetResults) -> list[tuple[Record, tuple[float, float] | None]]:
    """Each point with the paper's figures at the same labels per class (CIFAR-10 only)."""
    paper = ds.dataset == PAPER_DATASET
    return [(p, PAPER_SEMISUP.get(p["labels_per_class"]) if paper else None) for p in ds.semisup_points]


def _arm(point: Record, arm: str) -> Any:
    """An arm's test accuracy at one point, as mean ± std over several seeds."""
    if arm not in point:
        return None
    std = (point.get("std") or {}).get(arm, {}).get("test_acc")
    return point[arm]["test_acc"] if std is None else PlusMinus(point[arm]["test_acc"], std)


SEMISUP: list[Column] = [
    ("backbone", lambda r: r[0]["backbone"]),
    ("labels/class", lambda r: r[0]["labels_per_class"]),
    ("train / val images", lambda r: f"{r[0].get('train_images', '–')} / {r[0].get('val_images', '–')}"),
    ("from scratch", lambda r: _arm(r[0], "scratch")),
    ("RotNet + conv head (frozen)", lambda r: _arm(r[0], "rotnet")),
    ("RotNet − scratch", lambda r: r[0]["rotnet"]["test_acc"] - r[0]["scratch"]["test_acc"]),
    (f"{SEMISUP_SOURCE} scratch", lambda r: r[1][1] if r[1] else None),
    (f"{SEMISUP_SOURCE} RotNet", lambda r: r[1][0] if r[1] else None),
]
# The optional arm that is not the paper's, shown only when it ran.
FINETUNED_ARM: Column = ("RotNet fine-tuned (not the paper's)", lambda r: _arm(r[0], "rotnet_finetune"))


def semisup_protocol(record: Record) -> str:
    """One line on how the arms were trained and selected, from a semisup run record."""
    epochs, size = record.get("epochs"), record.get("epoch_size")
    if not isinstance(epochs, dict):  # records made before the official protocol
        return f"Test accuracy, {epochs} epochs per run, {record['device']}."
    scratch = f"a {record['scratch_backbone']} from scratch, {epochs.get('scratch')} epochs"
    scratch += f" of {size['scratch']} images"
    rotnet = f"the conv head on the frozen {record['conv_head_layer']}, {epochs.get('rotnet')} epochs"
    rotnet += f" of {size['rotnet']} images"
    return (
        f"Test accuracy; scratch arm: {scratch}; RotNet arm: {rotnet} (epochs cycle the labelled images). "
        "Epochs chosen on a validation set of K images per class (the official code reports the best test "
        "accuracy); "
        f"{record['device']}.{semisup_subsets(record)}"
    )


def semisup_subsets(record: Record) -> str:
    """Which K labelled images per class each point trained on, as the run record says
    (official subsets only in the source's official order); nothing for older records."""
    subset = record.get("subset")
    return f" Labelled images: {subset['description']}." if subset else ""


def semisup_section(ds: DatasetResults) -> list[str]:
    if not ds.semisup:
        return []
    first = ds.semisup[0]
    rows = semisup_rows(ds)
    columns = SEMISUP + ([FINETUNED_ARM] if any("rotnet_finetune" in p for p, _ in rows) else [])
    # The arms train on K images per class, so the training-set size and epochs are not differences.
    arm = {k: v for k, v in first.items() if k not in ("train_images", "epochs")}
    source = (
        f"The '{SEMISUP_SOURCE}' columns: {SEMISUP_SOURCE_LONG}, on {PAPER_DATA.split(',')[0]}. What still "
        f"differs from the official runs: {paper_differences(ds, first['backbone'], 'semisup', arm)}."
    )
    return [
        "### Few labels: RotNet vs training from scratch (the paper's fig. 5b experiment)",
        "",
        semisup_protocol(first),
        *([source] if ds.dataset == PAPER_DATASET else []),
        "",
        column_table(columns, rows),
        "",
        f"![semi-supervised]({dataset_figure(ds.dataset, 'semisup')})",
        "",
    ]
