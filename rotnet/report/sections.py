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

from rotnet.report import protocol
from rotnet.report.figures import PROBE_FIGURE, dataset_figure
from rotnet.report.gpu_check import GpuCheck, gpu_check_section
from rotnet.report.paper import (
    COMPARISON,
    CONSTRUCTED_SET_NOTE,
    DEFAULT_ROTATIONS,
    FINETUNED,
    PAPER_DATA,
    PAPER_DATASET,
    ROTATION_SETS,
    SEMISUP_LABELS,
    SEMISUP_ROTNET,
    SEMISUP_SCRATCH,
    SEMISUP_SOURCE,
    SEMISUP_SOURCE_LONG,
)
from rotnet.report.results import DatasetResults, Record, StudyResults, std_at
from rotnet.report.zoo_smoke import ZooSmoke, zoo_smoke_section

Column = tuple[str, Callable[[Any], Any]]  # header, value of a row
# Beside the row whose protocol the paper never published in code.
RANDOM_ASSUMED = "protocol assumed: the official code has no config for the random-init control"


@dataclass(frozen=True)
class PlusMinus:
    """A figure over several training seeds: mean ± sample std."""

    mean: float
    std: float


def test_figure(row: pd.Series) -> Any:
    """A row's test accuracy, as mean ± std when it was measured over several seeds."""
    std = row.get("test_std")
    return row.test_acc if std is None or pd.isna(std) else PlusMinus(row.test_acc, std)


def fmt(value: Any) -> str:
    if isinstance(value, PlusMinus):
        return f"{value.mean:.2f} ± {value.std:.2f}"
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


def _finetuned(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per fine-tuned head (finetune.heads)."""
    return rows[rows.method == "rotnet finetune"]


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
            supervised=_one(g, "supervised"),
            rotation=_one(g, "rotation pretext"),
            probe=best_by_val(_probes(g)),
            finetune=best_by_val(_finetuned(g)),
        )
        for backbone, g in rows.groupby("backbone", sort=False)
    ]


def summary_section(rows: pd.DataFrame) -> list[str]:
    return ["### Supervised vs RotNet", "", column_table(SUMMARY, backbone_summaries(rows)), ""]


# --- probe accuracy per layer, per backbone -------------------------------------------


def layer_table(rows: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    """One row per feature map: each head's val and test accuracy, the kNN probe's (when the
    run record has it), and the paper's where it has one."""
    probes = _probes(rows)
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
    sup = _one(rows, "supervised")
    has_paper = _probes(rows).paper_acc.notna().any()
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


def paper_differences(ds: DatasetResults, backbone: str, kind: str, rec: Record | None = None) -> str:
    """What still differs between a ``kind`` run of ours and the official one (protocol)."""
    runs = ds.records.get(backbone, {})
    return protocol.differences(
        runs.get(kind) if rec is None else rec,
        kind,
        data_description=ds.data,
        data_official=ds.data_official,
        pretrain=runs.get("pretrain") if kind in ("probe", "finetune", "semisup") else None,
    )


def table1_note(ds: DatasetResults) -> str:
    return (
        "Paper columns: the paper's Table 1 (non-linear head on each frozen block of the 4-block RotNet) "
        "and, for the conv head on block 2, its comparison table. What still differs from the official "
        f"run: {paper_differences(ds, 'nin', 'probe')}."
    )


# --- controls: the same probes on frozen non-RotNet backbones --------------------------

CONTROLS = (("RotNet", "rotnet"), ("supervised", "supervised"), ("random init", "random"))


def controls_section(rows: pd.DataFrame) -> list[str]:
    """Per backbone and map: the validation-chosen head's test accuracy and the kNN test
    accuracy on the frozen RotNet, the frozen supervised backbone and a random one."""
    if not (rows.stage == "control").any():
        return []
    out = [
        "### Controls: the same probes on other frozen backbones",
        "",
        "Test accuracy of the head chosen on validation for each map (heads as in the probe stage), "
        "and of the weighted kNN probe. The random backbone is the supervised model's initialisation; "
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


# --- NIN beside the paper (CIFAR-10 only) ---------------------------------------------


FINETUNE_RECIPE_NOTE = (
    "The fine-tuned rows' recipe (params.yaml's `finetune` section, in the Recipes table) is this project's own: "
    "no official config exists for fine-tuning, the paper describes the setting in its text only."
)


def finetune_row(fine: pd.Series, epochs: int) -> list[Any]:
    """The paper's fine-tuned figure for the head we ran (blocks 1-2 + conv or non-linear head;
    none for another head), or its conv figure beside a whole-network run, labelled as another
    setting. Either way the recipe is ours (FINETUNE_RECIPE_NOTE)."""
    if fine["layer"]:
        head = fine["head"]
        ours = f"RotNet up to {fine['layer']} + fresh {_head_name(head)} head, all trained, {epochs} epochs"
    else:
        head = "conv"
        ours = f"whole RotNet + fresh linear head, {epochs} epochs (not the paper's setting)"
    paper = COMPARISON[FINETUNED[head]] if head in FINETUNED else None
    theirs = "no figure for this head"
    if paper is not None:
        theirs = f"RotNet blocks 1-2 + fresh {_head_name(head)} head, all trained (no official config)"
    return [f"RotNet fine-tuned ({_head_name(head)} head)", paper, theirs, test_figure(fine), f"{ours}, our recipe"]


def _head_name(head: str) -> str:
    return "non-linear" if head == "nonlinear" else head


def nin_vs_paper_section(ds: DatasetResults, rows: pd.DataFrame) -> list[str]:
    """Our NIN rows beside the paper's CIFAR-10 comparison table, each with its protocol and
    every way it still differs from the official run (rotnet.report.protocol)."""
    g = rows[rows.backbone == "nin"]
    if g.empty or "nin" not in ds.records:
        return []
    probes = _probes(g)
    recs = ds.records["nin"]
    official = ds.data_official

    def differs(rec: Record | None, kind: str, *extra: str) -> list[str]:
        if rec is None:
            return ["(no run record)"]
        pre = recs.get("pretrain") if kind in ("probe", "finetune") else None
        return protocol.difference_list(
            rec, kind, data_description=ds.data, data_official=official, pretrain=pre, extra=extra
        )

    def probe_test(selected: pd.DataFrame) -> Any:
        best = best_by_val(selected)
        return None if best is None else test_figure(best)

    def epochs(stage: str) -> int:
        return int(g[g.stage == stage].epochs.max())

    sup, probe = epochs("supervised"), epochs("probe")
    # The paper's architecture (a 3-block NIN baseline) when the study trained one.
    paper_nin = rows[(rows.method == "supervised baseline") & rows.paper_acc.notna()]
    if len(paper_nin):
        b = paper_nin.iloc[0]
        supervised = [test_figure(b), f"3-block NIN ({b.backbone}), {int(b.epochs)} epochs"]
        supervised.append(differs(ds.baselines.get(str(b.backbone)), "supervised"))
    else:
        supervised = [test_figure(_one(g, "supervised")), f"the RotNet's 4-block NIN (not the paper's), {sup} epochs"]
        supervised.append(differs(recs["supervised"], "supervised", "4 blocks (official: 3)"))
    body = [
        ["supervised NIN", COMPARISON["supervised NIN"], "3-block NIN, 200 epochs", *supervised],
        [
            "RotNet + non-linear head (best block)",
            COMPARISON["RotNet + non-linear head"],
            "frozen 4-block RotNet, head 100 epochs",
            probe_test(probes[probes["head"] == "nonlinear"]),
            f"frozen RotNet, head {probe} epochs, block chosen on validation",
            differs(recs["probe"], "probe"),
        ],
        [
            "RotNet + conv head (block 2)",
            COMPARISON["RotNet + conv head"],
            "frozen 4-block RotNet, head 100 epochs",
            probe_test(probes[(probes["head"] == "conv") & (probes.layer == "block2")]),
            f"frozen RotNet, head {probe} epochs",
            differs(recs["probe"], "probe"),
        ],
        *(
            [*finetune_row(fine, int(fine.epochs)), differs(recs.get(str(fine.stage)), "finetune")]
            for _, fine in _finetuned(g).iterrows()
        ),
    ]
    random_conv = g[(g.method == "random probe") & g.paper_acc.notna()]
    if len(random_conv):
        body.insert(
            1,
            [
                "random init + conv head (block 2)",
                COMPARISON["random init + conv head"],
                "not published: no official config (assumed: frozen random 4-block NIN, head 100 epochs)",
                test_figure(random_conv.iloc[0]),
                f"frozen random NIN (seeded), head {probe} epochs",
                differs(ds.controls.get("nin"), "control", RANDOM_ASSUMED),
            ],
        )
    # What every row shares is said once under the table; each row's cell has the rest.
    shared = protocol.common([row[-1] for row in body])
    for row in body:
        row[-1] = "; ".join(x for x in row[-1] if x not in shared) or "only what every row shares (below)"
    header = ["method", f"paper ({PAPER_DATA})", "paper's protocol", f"ours ({ds.data})", "our protocol"]
    return [
        "### NIN beside the paper",
        "",
        table([*header, "what else differs from the official run"], body),
        "",
        f"What every row above still differs in from the official run: {'; '.join(shared) or 'nothing'}.",
        "",
        "Every figure in the paper column is one the paper printed (its CIFAR-10 comparison table). "
        "The last column lists each other way our run departs from the official code's run behind it "
        "(`make paper` runs the official protocol wherever it can: profiles/paper.yaml).",
        "",
        FINETUNE_RECIPE_NOTE,
        "",
    ]


def rotation_set_section(ds: DatasetResults, rows: pd.DataFrame) -> list[str]:
    """The angle set the NIN RotNet was pretrained on (its run record's ``rotations``; absent:
    the default four) beside the paper's Table 2 (4-block NIN, block 2, non-linear head)."""
    pre = ds.records.get("nin", {}).get("pretrain")
    if pre is None:
        return []
    used = tuple(pre.get("rotations") or DEFAULT_ROTATIONS)
    probes = _probes(rows[rows.backbone == "nin"])
    block2 = probes[(probes["head"] == "nonlinear") & (probes.layer == "block2")].test_acc
    ours = block2.iloc[0] if len(block2) else None
    sets = list(ROTATION_SETS) + ([] if used in ROTATION_SETS else [used])
    # * marks a set with a 45: the paper's row, but our construction (CONSTRUCTED_SET_NOTE).
    name = {s: "/".join(map(str, s)) + (" *" if any(a % 90 for a in s) else "") for s in sets}
    # A right-angle set masked (pretrain.mask: circle) is not the paper's run of that set.
    masked_four = pre.get("mask") == "circle" and not any(a % 90 for a in used)
    name[used] += " (this run, masked)" if masked_four else " (this run)"
    body = [[name[s], len(s), ROTATION_SETS.get(s), ours if s == used else None] for s in sets]
    return [
        f"This run's RotNet was pretrained on rotations {'/'.join(map(str, used))}. The paper's Table 2 "
        "(number of rotations; 4-block NIN, non-linear head on block 2) for each set, and ours for this run's:",
        "",
        table(["rotations", "angles", f"paper ({PAPER_DATA})", f"ours, block 2 non-linear ({ds.data})"], body),
        "",
        f"\\* {CONSTRUCTED_SET_NOTE}.",
        "",
        f"What still differs from the official run: {paper_differences(ds, 'nin', 'probe')}.",
        "",
    ]


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


# --- rotations as extra supervision, and robustness to corruptions --------------------


def recipe_differences(a: Record, b: Record) -> list[str]:
    """Every recipe key on which two run records differ, as 'key a vs b'."""
    ra, rb = a.get("recipe") or {}, b.get("recipe") or {}
    return [f"{k} {ra.get(k)} vs {rb.get(k)}" for k in dict.fromkeys([*ra, *rb]) if ra.get(k) != rb.get(k)]


def _gain(a: Any, b: Any, differ: Sequence[str] = ()) -> Any:
    """b - a in points, only between runs of the same recipe: otherwise which recipe keys
    differ (the quick profile, or a `-S supervised.<key>` that supervised_rot does not share)."""
    if differ:
        return "recipes differ: " + ", ".join(differ)
    return None if a is None or b is None else round(b - a, 2)


def _rot_vs_supervised(ds: DatasetResults, backbone: str) -> list[str]:
    rot = ds.supervised_rot.get(backbone)
    return ["no supervised_rot run"] if rot is None else recipe_differences(ds.records[backbone]["supervised"], rot)


def rotation_supervision_section(ds: DatasetResults) -> list[str]:
    """supervised vs supervised+rot per backbone, clean and (robustness stage) under
    corruptions, with the gain in points; for joint also the upright copy alone."""
    if not ds.supervised_rot and not ds.robustness:
        return []
    out = ["### Rotations as extra supervision, clean and corrupted", ""]
    if ds.supervised_rot:
        rows = []
        for b, rec in ds.supervised_rot.items():
            sup = ds.records[b]["supervised"]
            upright = rec.get("upright_test_acc") if rec["mode"] == "joint" else None
            mode = rec["mode"] + (f", weight {rec['weight']:g}" if rec.get("weight") is not None else "")
            rows.append(
                [
                    b,
                    mode,
                    sup["epochs"],
                    rec["epochs"],
                    sup["test_acc"],
                    rec["test_acc"],
                    _gain(sup["test_acc"], rec["test_acc"], _rot_vs_supervised(ds, b)),
                    upright,
                ]
            )
        header = ["backbone", "supervised+rot", "epochs (sup)", "epochs (+rot)", "supervised test", "+rot test"]
        out += [table([*header, "gain (points)", "+rot upright copy only"], rows), ""]
        out += [
            "multitask: a rotation head beside the class head, class loss on the upright copies + weight x "
            "rotation loss on all four (Hendrycks et al. 2019); joint: one head over (class, rotation), "
            "tested by averaging the four copies' log-probabilities (Lee et al. 2020). Epochs chosen on "
            "validation class accuracy; test touched once. A gain is shown only between runs of the same "
            "recipe (Recipes below); otherwise the cell names every recipe key that differs.",
            "",
        ]
    if ds.robustness:
        rows = []
        first = next(iter(ds.robustness.values()))
        for b, rec in ds.robustness.items():
            fig = {k: rec.get(k) or {} for k in ("supervised", "supervised_rot", "supervised_rot_upright", "probe")}
            sup, rot = fig["supervised"].get("corruption_acc"), fig["supervised_rot"].get("corruption_acc")
            rows.append(
                [
                    b,
                    fig["supervised"].get("clean_acc"),
                    sup,
                    fig["supervised_rot"].get("clean_acc"),
                    rot,
                    _gain(sup, rot, _rot_vs_supervised(ds, b)),
                    fig["supervised_rot_upright"].get("corruption_acc"),  # joint only
                    fig["probe"].get("clean_acc"),
                    fig["probe"].get("corruption_acc"),
                ]
            )
        header = ["backbone", "supervised clean", "supervised corrupted", "+rot clean", "+rot corrupted"]
        header += ["gain corrupted (points)", "+rot upright copy only corrupted"]
        out += [table([*header, "RotNet probe clean", "RotNet probe corrupted"], rows)]
        n, k = len(first["corruptions"]), len(first["severities"])
        out += [
            "",
            f"Corrupted: mean test accuracy over {n} corruptions x {k} severities ({', '.join(first['corruptions'])}); "
            f"{first['source']}. Regenerated sets follow CIFAR-10-C's published generator (its constants, "
            "and for the blurs, brightness, contrast, pixelate and JPEG its functions' pixels, truncation "
            "included: tests/data/fixtures) but are not the published files (the noises draw other random "
            "streams): compare them with each other, not with published CIFAR-10-C figures.",
            "",
        ]
    return out


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
        f"Columns headed 'paper' hold figures the paper printed (Gidaris et al. 2018, on {PAPER_DATA.split(',')[0]});",
        f"columns headed '{SEMISUP_SOURCE}' hold {SEMISUP_SOURCE_LONG}. Ours are on the data named in each",
        "section, and each row beside a paper figure lists what still differs from the official run.",
        "",
    ]


def measured_on(rows: pd.DataFrame) -> str:
    """The hardware and the epochs per stage every figure of a dataset section came from."""
    epochs = ", ".join(f"{k} {int(e)}" for k, e in rows.groupby("stage", sort=False).epochs.max().items())
    devices = ", ".join(sorted(set(rows.device)))
    return f"Measured on {devices}; epochs: {epochs}."


def dataset_section(ds: DatasetResults, all_rows: pd.DataFrame) -> list[str]:
    out = [f"## {ds.dataset}: {ds.data}", "", measured_on(all_rows), ""]
    rows = all_rows[all_rows.backbone.isin(ds.records)]  # the studied backbones; baselines have no RotNet
    out += summary_section(rows)
    for backbone, g in rows.groupby("backbone", sort=False):
        note = table1_note(ds) if ds.dataset == PAPER_DATASET and backbone == "nin" else None
        out += layer_section(str(backbone), g, note)
    out += controls_section(rows)
    if ds.dataset == PAPER_DATASET:
        out += nin_vs_paper_section(ds, all_rows) + rotation_set_section(ds, rows)
    out += rotation_supervision_section(ds)
    out += small_input_section(ds.small_input)
    out += semisup_section(ds)
    out += recipe_section(ds)
    out += figures_section(ds)
    return out


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
        "Rotation pretraining trains on one sample per angle of pretrain.rotations (4 by default) per image; "
        "its images/s counts source images.",
        "Run records: `models/<dataset>/<backbone>/<stage>/run.json`; results to compare: `metrics/runs/` "
        "(`dvc metrics diff`).",
        "",
    ]


def report_lines(
    results: StudyResults,
    figure: str | None = PROBE_FIGURE,
    gpu_check: GpuCheck | None = None,
    zoo_smoke: ZooSmoke | None = None,
) -> list[str]:
    df = results.accuracies
    out = intro_section()
    for name, ds in results.datasets.items():
        out += dataset_section(ds, df[df.dataset == name])
    out += probe_figure_section(figure)
    out += gpu_check_section(gpu_check)
    out += zoo_smoke_section(zoo_smoke)
    out += measurement_section(df)
    return out


def render_markdown(
    results: StudyResults,
    figure: str | None = PROBE_FIGURE,
    gpu_check: GpuCheck | None = None,
    zoo_smoke: ZooSmoke | None = None,
) -> str:
    return "\n".join(report_lines(results, figure, gpu_check, zoo_smoke))
