"""The report's tables of how runs were set up and measured: the small-input choices, the
recipes each backbone ran with, and each run's device, time and throughput."""

from __future__ import annotations

from typing import Any

import pandas as pd

from rotnet.report.results import DatasetResults, Record, std_at
from rotnet.report.tables import (
    Column,
    PlusMinus,
    column_table,
)

# --- small images: each choice of seeing 32x32 inputs ---------------------------------


def small_input_choice(options: dict[str, Any]) -> str:
    if options.get("small_input") == "upsample":
        size = options.get("upsample_size", 128)
        return f"upsample x{size // 32} (32 -> {size})"
    return "stem and first stride-2 stage at stride 1"


SMALL_INPUT: list[Column] = [
    ("backbone", lambda c: c[0]),
    ("arch", lambda c: c[1]["arch"]),
    ("small-input choice", lambda c: small_input_choice(c[1]["options"])),
    ("val", lambda c: c[1]["val_acc"]),
    ("test", lambda c: c[1]["test_acc"] if c[2] is None else PlusMinus(c[1]["test_acc"], c[2])),
    ("train images/s", lambda c: c[1]["images_per_s"]),
    ("time (s)", lambda c: c[1]["wall_time_s"]),
    ("params", lambda c: f"{c[1]['parameters'] / 1e6:.1f}M"),
]


def small_input_section(record: Record | None) -> list[str]:
    """Each small-input choice (e.g. EfficientNet-B0 strides lowered vs input upsampled)
    trained briefly with labels: accuracy and cost side by side."""
    if record is None:
        return []
    # (name, figures, test std over seeds or None)
    choices = [(n, c, std_at(record, "choices", n, "test_acc")) for n, c in record["choices"].items()]
    return [
        "### Small images: the choices compared",
        "",
        f"Supervised, {record['epochs']} epochs on {record['train_images']} training images, {record['device']}.",
        "",
        column_table(SMALL_INPUT, choices),
        "",
    ]


def _schedule(r: Record) -> str:
    return r["schedule"] + (f", warm-up {r['warmup_epochs']:g}" if r.get("warmup_epochs") else "")


def _augment(r: Record) -> str:
    parts = [f"crop pad {r['crop_padding']}"] if r.get("crop_padding") else []
    parts += ["flip"] * bool(r.get("flip"))
    parts += [f"resized crop {r['resize_scale']}"] * bool(r.get("resize_scale"))
    parts += ["AutoAugment"] * bool(r.get("autoaugment"))
    parts += [f"CutMix p={r['cutmix_prob']}"] * bool(r.get("cutmix_prob"))
    return ", ".join(parts) or "none"


RECIPE_COLUMNS: list[Column] = [
    ("backbone", lambda r: r[0]),
    ("stage", lambda r: r[1]),
    ("epochs", lambda r: r[2].get("epochs", "–")),
    ("batch", lambda r: r[2]["batch_size"]),
    ("optimizer", lambda r: r[2]["optimizer"]),
    ("lr", lambda r: f"{r[2]['lr']:g}"),
    ("weight decay", lambda r: f"{r[2]['weight_decay']:g}"),
    ("schedule", lambda r: _schedule(r[2])),
    ("label smoothing", lambda r: f"{r[2]['label_smoothing']:g}"),
    ("augmentation", lambda r: _augment(r[2])),
    ("micro-batch", lambda r: r[3] if r[3] is not None else "–"),
]


def recipe_section(ds: DatasetResults) -> list[str]:
    """What each backbone's training stages actually ran with (params.yaml's sections with
    the backbone's own recipe merged in), from their run records."""
    rows = [
        (b, kind, rec["recipe"], rec.get("micro_batch"))
        for b, runs in ds.records.items()
        for kind, rec in runs.items()
        if "recipe" in rec
    ]
    optional = {"supervised_rot": ds.supervised_rot, "control": ds.controls, "baseline": ds.baselines}
    for kind, found in optional.items():
        rows += [(b, kind, rec["recipe"], rec.get("micro_batch")) for b, rec in found.items() if "recipe" in rec]
    for rec in ds.semisup:  # one recipe per arm
        arms = rec.get("recipe") or {}
        rows += [(rec["backbone"], f"semisup {arm}", r, rec.get("micro_batch")) for arm, r in arms.items()]
    if ds.small_input and "recipe" in ds.small_input:
        rows.append(("(each choice)", "small_input", ds.small_input["recipe"], ds.small_input.get("micro_batch")))
    if not rows:
        return []
    return [
        "### Recipes: what each backbone ran with",
        "",
        "From the run records of every training stage: each training section of params.yaml with the "
        "backbone's own `backbones.<name>.recipe` merged in (control: the probe recipe on the other backbones).",
        "",
        column_table(RECIPE_COLUMNS, rows),
        "",
    ]


MEASURED: list[Column] = [
    ("dataset", lambda r: r.dataset),
    ("backbone", lambda r: r.backbone),
    ("stage", lambda r: r.stage),
    ("epochs", lambda r: int(r.epochs)),
    ("wall time (s)", lambda r: r.wall_time_s),
    ("train images/s", lambda r: r.images_per_s),
    ("device", lambda r: r.device),
]


def measurement_section(accuracies: pd.DataFrame) -> list[str]:
    runs = accuracies.drop_duplicates(["dataset", "backbone", "stage"]).itertuples()
    return [
        "## How these were measured",
        "",
        column_table(MEASURED, runs),
        "",
        "Rotation pretraining trains on one sample per angle of pretrain.rotations (4 by default) per image; "
        "its images/s counts source images.",
        "Run records: `models/<dataset>/<backbone>/<stage>/run.json`; results to compare: `metrics/runs/` "
        "(`dvc metrics diff`).",
        "",
    ]
