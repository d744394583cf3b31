"""The report's NIN beside the paper (CIFAR-10 only): the comparison table, each row with
what still differs from the official run, and the rotation set beside the paper's Table 2."""

from __future__ import annotations

from typing import Any

import pandas as pd

from rotnet.report import protocol
from rotnet.report.paper import (
    COMPARISON,
    CONSTRUCTED_SET_NOTE,
    DEFAULT_ROTATIONS,
    FINETUNED,
    PAPER_DATA,
    ROTATION_SETS,
)
from rotnet.report.results import DatasetResults, Record
from rotnet.report.tables import (
    best_by_val,
    finetuned_rows,
    one_row,
    paper_differences,
    probe_rows,
    table,
    test_figure,
)

# Beside the row whose protocol the paper never published in code.
RANDOM_ASSUMED = "protocol assumed: the official code has no config for the random-init control"


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
    probes = probe_rows(g)
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
        supervised = [
            test_figure(one_row(g, "supervised")),
            f"the RotNet's 4-block NIN (not the paper's), {sup} epochs",
        ]
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
            for _, fine in finetuned_rows(g).iterrows()
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
    probes = probe_rows(rows[rows.backbone == "nin"])
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
