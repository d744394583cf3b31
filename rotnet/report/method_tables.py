"""The report's comparison of RotNet with the methods beside it (study.methods: SimCLR, BYOL):
epochs and equal cost, the peers' published figures with their protocols, and the t-SNE
pictures. The per-map table of every frozen backbone is probe_tables.controls_section.

Equal cost comes from the newest committed `make gpu-check` throughput (source images/s of the
engine, per workload ``<backbone>-rotation`` and ``<backbone>-<method>``), never from the wall
times of a DVC run, which depend on whatever else the machine did: a RotNet epoch trains four
rotated copies of each image, a SimCLR or BYOL epoch two augmented views.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from rotnet.report.figures import dataset_figure
from rotnet.report.gpu_check import GpuCheck, equal_cost_ratio
from rotnet.report.method_results import LABELS
from rotnet.report.paper import PAPER_DATASET
from rotnet.report.results import DatasetResults
from rotnet.report.tables import best_by_val, fmt, table, test_figure

# Their CIFAR-10 figures (ResNet-18 with a CIFAR stem; ../shared/REFERENCE.md), each with the
# protocol behind it: neither is this study's protocol (epoch and k chosen on validation).
LIGHTLY = (
    "lightly (docs/source/getting_started/benchmarks.rst): kNN top-1, k=200, T=0.1, batch 512, the best *test* "
    "epoch's figure (test-selected), memory bank of all 50,000 training images"
)
SOLO = "solo-learn: linear probe top-1 after 1000 epochs"
PEERS: dict[str, tuple[tuple[str, float], ...]] = {
    "simclr": (("lightly 200 ep", 84.8), ("lightly 800 ep", 87.9), ("solo-learn 1000 ep", 90.74)),
    "byol": (("lightly 200 ep", 86.8), ("lightly 800 ep", 91.0), ("solo-learn 1000 ep", 92.58)),
}


def throughput_table(gpu_check: GpuCheck | None) -> tuple[dict[str, Any], str]:
    """The newest gpu-check's throughput table and where it was measured ('' when none)."""
    if gpu_check is None:
        return {}, ""
    path, result = gpu_check
    table_ = (result.get("throughput") or {}).get("table") or {}
    return table_, f"{result.get('device', '?')}, {result.get('date', '?')} ({path.name})"


def equal_cost_epochs(table_: dict[str, Any], backbone: str, method: str, rotnet_epochs: int) -> float | None:
    """Epochs of ``method`` that cost as much GPU time as ``rotnet_epochs`` RotNet epochs on
    ``backbone`` (gpu_check.equal_cost_ratio); None when either is not measured."""
    ratio = equal_cost_ratio(table_, backbone, method)
    return None if ratio is None else rotnet_epochs * ratio


def _best(rows: pd.DataFrame, name: str) -> str:
    best = best_by_val(rows[rows.method == name])
    return "–" if best is None else f"{fmt(test_figure(best))} ({best['layer']} {best['head']})"


def methods_section(ds: DatasetResults, rows: pd.DataFrame, gpu_check: GpuCheck | None) -> list[str]:
    """Per backbone: each method's epochs, its kNN monitor and best probe, and the epochs that
    would cost what RotNet's did; then the peers' figures beside ours (CIFAR-10 only)."""
    if not ds.methods:
        return []
    costs, measured = throughput_table(gpu_check)
    out = [
        "### RotNet beside SimCLR and BYOL: epochs, cost and the published figures",
        "",
        "kNN monitor: lightly's kNN (k=200, T=0.1, pooled last map, the training split as memory bank) at the "
        "epoch chosen on validation kNN accuracy, read once on test. Best probe: the head and map chosen on "
        "validation, as in the tables above. Fine-tuned: the head of finetune.heads chosen on validation, each "
        "trained as RotNet's fine-tuning is. Equal cost: the epochs of the method whose GPU time equals "
        "RotNet's epochs, from the engine's images/s in the newest `make gpu-check`"
        + (f" ({measured})." if measured else " (none committed yet: run `make gpu-check` on a GPU)."),
        "",
    ]
    body = []
    for backbone, methods in ds.methods.items():
        g = rows[rows.backbone == backbone]
        rot_epochs = int(ds.records[backbone]["pretrain"]["epochs"])
        body.append([backbone, "RotNet", rot_epochs, "–", _best(g, "rotnet probe"), _best(g, "rotnet finetune"), "–"])
        for method, recs in methods.items():
            epochs = (recs.get("pretrain") or {}).get("epochs")
            monitor = g[g.method == f"{method} monitor"]
            same = equal_cost_epochs(costs, backbone, method, rot_epochs)
            body.append(
                [
                    backbone,
                    LABELS[method],
                    epochs,
                    test_figure(monitor.iloc[0]) if len(monitor) else None,
                    _best(g, f"{method} probe"),
                    _best(g, f"{method} finetune"),
                    None if same is None else f"{same:.0f}",
                ]
            )
    header = ["backbone", "method", "epochs", "kNN monitor (test)", "best probe (test)", "fine-tuned (test)"]
    header.append("epochs at RotNet's cost")
    out += [table(header, body), "", *scale_note(ds), *few_labels_lines(ds)]
    if ds.dataset == PAPER_DATASET:
        out += peers_lines(ds, rows)
    return out


def few_labels_lines(ds: DatasetResults) -> list[str]:
    """The few-labels curve's pretrained arms on each method's backbone beside RotNet's (test %)."""
    body = []
    for backbone, methods in ds.methods.items():
        rot = next((r for r in ds.semisup if r.get("backbone") == backbone), None)
        recs = {LABELS[m]: r["semisup"] for m, r in methods.items() if "semisup" in r}
        if rot is None or not recs:
            continue
        arms = [a for a in ("rotnet", "rotnet_finetune") if any(a in p for p in rot["points"])]
        for i, point in enumerate(rot["points"]):
            row = [backbone, point["labels_per_class"], (point.get("scratch") or {}).get("test_acc")]
            for arm in arms:
                row.append((point.get(arm) or {}).get("test_acc"))
                row += [(r["points"][i].get(arm) or {}).get("test_acc") for r in recs.values()]
            body.append(row)
        header = ["backbone", "labels per class", "scratch"]
        for arm in arms:
            header += [f"RotNet {arm.replace('rotnet', 'frozen').replace('_finetune', ' + fine-tuned')}"]
            header += [f"{name} (same arm)" for name in recs]
        return [
            "Few labels (semisup's pretrained arms on each method's backbone; test %):",
            "",
            table(header, body),
            "",
        ]
    return []


def scale_note(ds: DatasetResults) -> list[str]:
    """Say so when the methods ran far below the published scale (the quick profile's CPU runs)."""
    runs = [
        (LABELS[m], r["pretrain"].get("epochs"), str(r["pretrain"].get("device", "")))
        for methods in ds.methods.values()
        for m, r in methods.items()
        if "pretrain" in r
    ]
    short = [
        f"{name} {epochs} epoch{'' if epochs == 1 else 's'} on {device}"
        for name, epochs, device in runs
        if (epochs or 0) < 200
    ]
    if not short:
        return []
    return [
        f"**Smoke, not a result:** {'; '.join(short)}. The published figures start at 200 epochs on a GPU, "
        "so at this scale the table shows that the methods run and how the report reads, not what they are worth.",
        "",
    ]


def peers_lines(ds: DatasetResults, rows: pd.DataFrame) -> list[str]:
    """Ours beside lightly's and solo-learn's CIFAR-10 figures, each labelled with its protocol."""
    body = []
    for backbone, methods in ds.methods.items():
        g = rows[rows.backbone == backbone]
        for method, recs in methods.items():
            monitor = g[g.method == f"{method} monitor"]
            epochs = (recs.get("pretrain") or {}).get("epochs")
            ours = test_figure(monitor.iloc[0]) if len(monitor) else None
            body.append([f"{LABELS[method]} on {backbone}, {epochs} ep", ours, *(f for _, f in PEERS[method])])
    header = ["ours: kNN k=200, T=0.1, epoch chosen on validation", "test", *(n for n, _ in PEERS["simclr"])]
    return [
        f"Beside the published figures. Ours: {ds.data}. lightly: {LIGHTLY}. {SOLO}. Both on the official "
        "CIFAR-10 with ResNet-18; ours is the backbone and data named in each row.",
        "",
        table(header, body),
        "",
    ]


def tsne_section(ds: DatasetResults) -> list[str]:
    """The t-SNE picture of each backbone's methods (drawn by the report stage from the points
    each probe stage wrote)."""
    if not ds.tsne:
        return []
    out = [
        "### The features, pictured (t-SNE)",
        "",
        "Pooled test features of a fixed, class-stratified subset of test images (the same for every method) "
        "at each method's best map chosen on validation, embedded by t-SNE and coloured by class. t-SNE keeps "
        "neighbourhoods, not distances or cluster sizes: read it as a picture, not a figure.",
        "",
    ]
    for backbone, found in ds.tsne.items():
        shown = ", ".join(f"{LABELS[m]} ({rec['layer']}, {rec['images']} images)" for m, rec in found.items())
        figure = dataset_figure(ds.dataset, tsne_what(backbone))
        out += [f"{backbone}: {shown}", "", f"![t-SNE, {backbone}]({figure})", ""]
    return out


def tsne_what(backbone: str) -> str:
    """The figure's name within the dataset's figures (figures.figure_name)."""
    return f"{backbone}_tsne"
