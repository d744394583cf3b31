"""The report's markdown, section by section: pure functions of the collected results.

No file is read or written here and nothing is plotted or inferred: the figures the
sections refer to are named by ``rotnet.report.figures`` and written by the stage.
Most tables are declared as columns, each a header and how to get its value from a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rotnet.report.figures import PROBE_FIGURE, dataset_figure
from rotnet.report.paper import (
    COMPARISON,
    PAPER_DATA,
    PAPER_DATASET,
    SEMISUP_LABELS,
    SEMISUP_ROTNET,
    SEMISUP_SCRATCH,
)
from rotnet.report.results import DatasetResults, Record, StudyResults

Column = tuple[str, Callable[[Any], Any]]  # header, value of a row


def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def column_table(columns: Sequence[Column], items: Iterable[Any]) -> str:
    return table([h for h, _ in columns], [[get(item) for _, get in columns] for item in items])


def best_by_val(rows: pd.DataFrame) -> pd.Series | None:
    """The row with the highest validation accuracy: selection never looks at test."""
    return None if rows.empty else rows.loc[rows.val_acc.idxmax()]


def _probes(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows.method == "rotnet probe"]


def _one(rows: pd.DataFrame, method: str) -> pd.Series:
    return rows[rows.method == method].iloc[0]


# --- Supervised vs RotNet: one row per backbone ---------------------------------------


@dataclass(frozen=True)
class BackboneSummary:
    backbone: str
    supervised: pd.Series
    rotation: pd.Series
    probe: pd.Series  # the validation-selected layer and head
    finetune: pd.Series


SUMMARY: list[Column] = [
    ("backbone", lambda s: s.backbone),
    ("supervised test", lambda s: s.supervised.test_acc),
    ("rotation test", lambda s: s.rotation.test_acc),
    ("best probe (val-selected)", lambda s: f"{s.probe.layer} ({s.probe['head']})"),
    ("probe test", lambda s: s.probe.test_acc),
    ("finetuned test", lambda s: s.finetune.test_acc),
    ("probe − supervised", lambda s: s.probe.test_acc - s.supervised.test_acc),
    ("finetuned − supervised", lambda s: s.finetune.test_acc - s.supervised.test_acc),
]


def backbone_summaries(rows: pd.DataFrame) -> list[BackboneSummary]:
    return [
        BackboneSummary(
            backbone=str(backbone),
            supervised=_one(g, "supervised"),
            rotation=_one(g, "rotation pretext"),
            probe=best_by_val(_probes(g)),
            finetune=_one(g, "rotnet finetune"),
        )
        for backbone, g in rows.groupby("backbone", sort=False)
    ]


def summary_section(rows: pd.DataFrame) -> list[str]:
    return ["### Supervised vs RotNet", "", column_table(SUMMARY, backbone_summaries(rows)), ""]


# --- probe accuracy per layer, per backbone -------------------------------------------


def layer_table(rows: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    """One row per feature map: each head's val and test accuracy, and the paper's where it has one."""
    probes = _probes(rows)
    heads = list(dict.fromkeys(probes["head"]))
    paper_heads = [h for h in heads if probes[probes["head"] == h].paper_acc.notna().any()]
    header = (
        ["layer"] + [f"{h} val" for h in heads] + [f"{h} test" for h in heads] + [f"paper {h}" for h in paper_heads]
    )
    body = []
    for layer, lg in probes.groupby("layer", sort=False):
        by_head = lg.set_index("head")
        body.append(
            [layer]
            + [by_head.val_acc.get(h) for h in heads]
            + [by_head.test_acc.get(h) for h in heads]
            + [by_head.paper_acc.get(h) for h in paper_heads]
        )
    return header, body


def layer_section(backbone: str, rows: pd.DataFrame) -> list[str]:
    sup = _one(rows, "supervised")
    return [
        f"### {backbone}: probe accuracy per layer",
        "",
        table(*layer_table(rows)),
        "",
        f"Supervised {backbone}: val {sup.val_acc:.2f}, test {sup.test_acc:.2f} "
        f"({int(sup.epochs)} epochs, {sup.wall_time_s:.0f} s).",
        "",
    ]


# --- NIN beside the paper (CIFAR-10 only) ---------------------------------------------


def nin_vs_paper_section(rows: pd.DataFrame, data: str) -> list[str]:
    g = rows[rows.backbone == "nin"]
    if g.empty:
        return []
    probes = _probes(g)

    def probe_test(selected: pd.DataFrame) -> float | None:
        best = best_by_val(selected)
        return None if best is None else best.test_acc

    body = [
        ["supervised NIN", COMPARISON["supervised NIN"], _one(g, "supervised").test_acc],
        [
            "RotNet + non-linear head (best block)",
            COMPARISON["RotNet + non-linear head"],
            probe_test(probes[probes["head"] == "nonlinear"]),
        ],
        [
            "RotNet + conv head (block 2)",
            COMPARISON["RotNet + conv head"],
            probe_test(probes[(probes["head"] == "conv") & (probes.layer == "block2")]),
        ],
        [
            "RotNet fine-tuned (paper: conv head + blocks 1-2; ours: whole network + linear)",
            COMPARISON["RotNet + conv, fine-tuned"],
            _one(g, "rotnet finetune").test_acc,
        ],
    ]
    return ["### NIN beside the paper", "", table(["method", f"paper ({PAPER_DATA})", f"ours ({data})"], body), ""]


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
    ("test", lambda c: c[1]["test_acc"]),
    ("train images/s", lambda c: c[1]["images_per_s"]),
    ("time (s)", lambda c: c[1]["wall_time_s"]),
    ("params", lambda c: f"{c[1]['parameters'] / 1e6:.1f}M"),
]


def small_input_section(record: Record | None) -> list[str]:
    """Each small-input choice (e.g. EfficientNet-B0 strides lowered vs input upsampled)
    trained briefly with labels: accuracy and cost side by side."""
    if record is None:
        return []
    return [
        "### Small images: the choices compared",
        "",
        f"Supervised, {record['epochs']} epochs on {record['train_images']} training images, {record['device']}.",
        "",
        column_table(SMALL_INPUT, record["choices"].items()),
        "",
    ]


# --- few labels: RotNet vs scratch (paper fig. 5b) ------------------------------------

# labels per class -> (paper RotNet, paper scratch)
PAPER_SEMISUP = dict(zip(SEMISUP_LABELS, zip(SEMISUP_ROTNET, SEMISUP_SCRATCH, strict=True), strict=True))


def semisup_rows(ds: DatasetResults) -> list[tuple[Record, tuple[float, float] | None]]:
    """Each point with the paper's figures at the same labels per class (CIFAR-10 only)."""
    paper = ds.dataset == PAPER_DATASET
    return [(p, PAPER_SEMISUP.get(p["labels_per_class"]) if paper else None) for p in ds.semisup_points]


SEMISUP: list[Column] = [
    ("backbone", lambda r: r[0]["backbone"]),
    ("labels/class", lambda r: r[0]["labels_per_class"]),
    ("from scratch", lambda r: r[0]["scratch"]["test_acc"]),
    ("RotNet + conv head", lambda r: r[0]["rotnet"]["test_acc"]),
    ("RotNet − scratch", lambda r: r[0]["rotnet"]["test_acc"] - r[0]["scratch"]["test_acc"]),
    ("paper scratch", lambda r: r[1][1] if r[1] else None),
    ("paper RotNet", lambda r: r[1][0] if r[1] else None),
]


def semisup_section(ds: DatasetResults) -> list[str]:
    if not ds.semisup:
        return []
    first = ds.semisup[0]
    return [
        "### Few labels: RotNet vs training from scratch (paper fig. 5b)",
        "",
        f"Test accuracy, {first['epochs']} epochs per run, {first['device']}.",
        "",
        column_table(SEMISUP, semisup_rows(ds)),
        "",
        f"![semi-supervised]({dataset_figure(ds.dataset, 'semisup')})",
        "",
    ]


# --- training curves and the best classifier (figures written by the stage) -----------


def figures_section(ds: DatasetResults) -> list[str]:
    best = ds.best_classifier
    return [
        "### Training curves (validation accuracy)",
        "",
        f"![training curves]({dataset_figure(ds.dataset, 'curves')})",
        "",
        f"### Best classifier: {best.backbone} {best.kind}, chosen on validation",
        "",
        f"![confusion matrix]({dataset_figure(ds.dataset, 'confusion')})",
        "",
        f"![test images, predicted (true)]({dataset_figure(ds.dataset, 'samples')})",
        "",
    ]


# --- the whole report -----------------------------------------------------------------


def intro_section() -> list[str]:
    return [
        "# RotNet study report",
        "",
        "Accuracies are top-1 % on each dataset's test split, measured once with the weights",
        "chosen on the validation split (epoch and, for probes, the best layer/head).",
        f"Paper figures are from Gidaris et al. 2018 on {PAPER_DATA.split(',')[0]}; ours are on the data named",
        "in each section, so compare them with that in mind.",
        "",
    ]


def measured_on(rows: pd.DataFrame) -> str:
    """The hardware and the epochs per stage every figure of a dataset section came from."""
    epochs = ", ".join(f"{k} {int(e)}" for k, e in rows.groupby("stage", sort=False).epochs.max().items())
    devices = ", ".join(sorted(set(rows.device)))
    return f"Measured on {devices}; epochs: {epochs}."


def dataset_section(ds: DatasetResults, rows: pd.DataFrame) -> list[str]:
    out = [f"## {ds.dataset}: {ds.data}", "", measured_on(rows), ""]
    out += summary_section(rows)
    for backbone, g in rows.groupby("backbone", sort=False):
        out += layer_section(str(backbone), g)
    if ds.dataset == PAPER_DATASET:
        out += nin_vs_paper_section(rows, ds.data)
    out += small_input_section(ds.small_input)
    out += semisup_section(ds)
    out += figures_section(ds)
    return out


def probe_figure_section(figure: str | None) -> list[str]:
    return ["## Probe accuracy per layer", "", f"![probe accuracy per layer]({figure})", ""] if figure else []


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
        "Rotation pretraining trains on 4 samples per image; its images/s counts source images.",
        "Run records: `models/<dataset>/<backbone>/<stage>/run.json`; results to compare: `metrics/runs/` "
        "(`dvc metrics diff`).",
        "",
    ]


def report_lines(results: StudyResults, figure: str | None = PROBE_FIGURE) -> list[str]:
    df = results.accuracies
    out = intro_section()
    for name, ds in results.datasets.items():
        out += dataset_section(ds, df[df.dataset == name])
    out += probe_figure_section(figure)
    out += measurement_section(df)
    return out


def render_markdown(results: StudyResults, figure: str | None = PROBE_FIGURE) -> str:
    return "\n".join(report_lines(results, figure))
