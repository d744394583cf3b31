"""The report's probe tables: supervised vs RotNet per backbone, probe accuracy per layer
(with the paper's Table 1 on CIFAR-10), and the controls on other frozen backbones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from rotnet.report.results import DatasetResults
from rotnet.report.tables import (
    Column,
    best_by_val,
    column_table,
    finetuned_rows,
    fmt,
    one_row,
    paper_differences,
    probe_rows,
    table,
    test_figure,
)

# --- Supervised vs RotNet: one row per backbone ---------------------------------------


@dataclass(frozen=True)
class BackboneSummary:
    backbone: str
    supervised: pd.Series
    rotation: pd.Series
    probe: pd.Series  # the validation-selected layer and head
    finetune: pd.Series  # the validation-selected fine-tuned head


SUMMARY: list[Column] = [
    ("backbone", lambda s: s.backbone),
    ("supervised test", lambda s: test_figure(s.supervised)),
    ("rotation test", lambda s: test_figure(s.rotation)),
    ("best probe (val-selected)", lambda s: f"{s.probe.layer} ({s.probe['head']})"),
    ("probe test", lambda s: test_figure(s.probe)),
    ("best finetuned (val-selected)", lambda s: f"{s.finetune.layer or 'whole'} ({s.finetune['head']})"),
    ("finetuned test", lambda s: test_figure(s.finetune)),
    ("probe − supervised", lambda s: s.probe.test_acc - s.supervised.test_acc),
    ("finetuned − supervised", lambda s: s.finetune.test_acc - s.supervised.test_acc),
]


def backbone_summaries(rows: pd.DataFrame) -> list[BackboneSummary]:
    return [
        BackboneSummary(
            backbone=str(backbone),
            supervised=one_row(g, "supervised"),
            rotation=one_row(g, "rotation pretext"),
            probe=best_by_val(probe_rows(g)),
            finetune=best_by_val(finetuned_rows(g)),
        )
        for backbone, g in rows.groupby("backbone", sort=False)
    ]


def summary_section(rows: pd.DataFrame) -> list[str]:
    return ["### Supervised vs RotNet", "", column_table(SUMMARY, backbone_summaries(rows)), ""]


# --- probe accuracy per layer, per backbone -------------------------------------------


def layer_table(rows: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    """One row per feature map: each head's val and test accuracy, the kNN probe's (when the
    run record has it), and the paper's where it has one."""
    probes = probe_rows(rows)
    knn = rows[rows.method == "rotnet knn"].set_index("layer")
    knn_cols = ["knn val", "knn test"] if len(knn) else []
    heads = list(dict.fromkeys(probes["head"]))
    paper_heads = [h for h in heads if probes[probes["head"] == h].paper_acc.notna().any()]
    header = (
        ["layer"]
        + [f"{h} val" for h in heads]
        + [f"{h} test" for h in heads]
        + knn_cols
        + [f"paper {h}" for h in paper_heads]
    )
    body = []
    for layer, lg in probes.groupby("layer", sort=False):
        by_head = lg.set_index("head")
        body.append(
            [layer]
            + [by_head.val_acc.get(h) for h in heads]
            + [test_figure(by_head.loc[h]) if h in by_head.index else None for h in heads]
            + ([knn.val_acc.get(layer), test_figure(knn.loc[layer])] if knn_cols and layer in knn.index else [])
            + [by_head.paper_acc.get(h) for h in paper_heads]
        )
    return header, body


def layer_section(backbone: str, rows: pd.DataFrame, paper_note: str | None = None) -> list[str]:
    """One backbone's per-layer table; ``paper_note``: where its paper columns come from and
    what still differs from the official run (NIN on CIFAR-10)."""
    sup = one_row(rows, "supervised")
    has_paper = probe_rows(rows).paper_acc.notna().any()
    return [
        f"### {backbone}: probe accuracy per layer",
        "",
        table(*layer_table(rows)),
        "",
        *([paper_note, ""] if paper_note and has_paper else []),
        f"Supervised {backbone}: val {sup.val_acc:.2f}, test {sup.test_acc:.2f} "
        f"({int(sup.epochs)} epochs, {sup.wall_time_s:.0f} s).",
        "",
    ]


def table1_note(ds: DatasetResults) -> str:
    return (
        "Paper columns: the paper's Table 1 (non-linear head on each frozen block of the 4-block RotNet) "
        "and, for the conv head on block 2, its comparison table. What still differs from the official "
        f"run: {paper_differences(ds, 'nin', 'probe')}."
    )


# --- controls: the same probes on frozen non-RotNet backbones --------------------------

# The frozen backbones compared, in the table's order: the methods (RotNet, then study.methods),
# then the controls (supervised, random init). Each is shown where the study ran it.
CONTROLS = (
    ("RotNet", "rotnet"),
    ("SimCLR", "simclr"),
    ("BYOL", "byol"),
    ("supervised", "supervised"),
    ("random init", "random"),
)


def controls_section(rows: pd.DataFrame) -> list[str]:
    """Per backbone and map: the validation-chosen head's test accuracy and the kNN test
    accuracy on the frozen RotNet, SimCLR and BYOL backbones (study.methods), the frozen
    supervised backbone and a random one."""
    others = [key for _, key in CONTROLS[1:]]
    if not rows.method.isin([f"{k} probe" for k in others]).any():
        return []
    out = [
        "### Methods and controls: the same probes on every frozen backbone",
        "",
        "Test accuracy of the head chosen on validation for each map (heads and recipe as in the probe "
        "stage), and of the weighted kNN probe (k and T chosen on validation per map). SimCLR and BYOL "
        "are pretrained on the same data and backbone as RotNet (study.methods; docs/methods.md), each "
        "for its own epochs (below). The random backbone is the supervised model's initialisation; "
        "probing it frozen with the probe's heads and recipe is this project's assumption of the paper's "
        "random-init control (the official code has no config for its 72.50).",
        "",
    ]
    for backbone, g in rows.groupby("backbone", sort=False):
        sources = [(name, key) for name, key in CONTROLS if (g.method == f"{key} probe").any()]
        header = ["layer"] + [f"{name} probe" for name, _ in sources] + [f"{name} kNN" for name, _ in sources]
        body = []
        for layer in dict.fromkeys(g[g.method == "rotnet probe"].layer):
            at = g[g.layer == layer]
            chosen = [best_by_val(at[at.method == f"{key} probe"]) for _, key in sources]
            knn = [at[at.method == f"{key} knn"] for _, key in sources]
            body.append(
                [layer]
                + [None if c is None else f"{fmt(test_figure(c))} ({c['head']})" for c in chosen]
                + [test_figure(k.iloc[0]) if len(k) else None for k in knn]
            )
        out += [f"{backbone}:", "", table(header, body), ""]
    return out
