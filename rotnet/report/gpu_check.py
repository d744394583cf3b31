"""The latest `make gpu-check` result (benchmarks/results/*.json), as a report section.

The GPU box cannot write DVC metrics back; its one JSON is committed instead, and the
report shows the newest one beside the study, labelled with its device, date and data.
Its format is rotnet/report/gpu_check_schema.py, which the writer follows too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rotnet.errors import RotnetError
from rotnet.report import gpu_check_schema as schema
from rotnet.report.gpu_check_schema import Costs, GpuCheckResult, StudyGpuHours

RESULTS = Path("benchmarks") / "results"
GpuCheck = tuple[Path, GpuCheckResult]  # the result file and what it holds
WORKLOAD_LABELS = {
    "nin-rotation": "NIN rotation pretraining",
    "nin-simclr": "NIN SimCLR pretraining",
    "nin-byol": "NIN BYOL pretraining",
    "resnet18-rotation": "ResNet-18 rotation pretraining",
    "resnet18-simclr": "ResNet-18 SimCLR pretraining",
    "resnet18-byol": "ResNet-18 BYOL pretraining",
    "resnet18": "ResNet-18 supervised",
    "resnet50": "ResNet-50 supervised",
}
METHODS = {"simclr": "SimCLR", "byol": "BYOL"}  # the throughput and cost rows' keys, and their names
NOT_MEASURED = "not measured yet: run `make gpu-check` on a GPU"


def equal_cost_ratio(table: dict[str, Any], backbone: str, method: str) -> float | None:
    """Epochs of ``method`` that cost as much GPU time as one RotNet epoch on ``backbone``:
    the method's engine images/s over RotNet's (source images, both through the engine, in
    one throughput table: same device, batch and compile). None when either was not measured."""
    got = (table.get(f"{backbone}-{method}") or {}).get("engine")
    rot = (table.get(f"{backbone}-rotation") or {}).get("engine")
    return got / rot if got and rot else None


def _by_date(folder: Path) -> list[Path]:
    """The JSON files in ``folder``, oldest first: file names start with the date, and a later
    run of the same day has a higher -N suffix."""

    def order(p: Path) -> tuple[str, int]:
        tail = p.stem.rsplit("-", 1)[-1]
        return p.stem[:10], int(tail) if tail.isdigit() and len(tail) < 4 else 1

    return sorted(folder.glob("*.json"), key=order) if folder.is_dir() else []


def newest_json(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest committed result in ``folder`` and what it holds."""
    files = _by_date(folder)
    if not files:
        return None
    return files[-1], json.loads(files[-1].read_text(encoding="utf-8"))


def latest_result(folder: Path = RESULTS) -> GpuCheck | None:
    """The newest `make gpu-check` result, checked against its schema (the paper runs'
    JSON beside it, of another kind, is not one)."""
    for path in reversed(_by_date(folder)):
        result = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(result, dict) or result.get("kind") != schema.KIND:
            continue
        wrong = schema.problems(result)
        if wrong:
            raise RotnetError(
                f"{path} does not follow rotnet/report/gpu_check_schema.py: {'; '.join(wrong[:5])}"
                f"{f' (and {len(wrong) - 5} more)' if len(wrong) > 5 else ''}; rewrite it with the current "
                "benchmarks/gpu_check.py, or move it out of the folder"
            )
        return path, result
    return None


def _num(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "–"


def throughput_lines(result: GpuCheckResult) -> list[str]:
    table = result.get("throughput", {}).get("table") or {}
    if not table:
        return ["No throughput figures were measured."]
    compiled = result.get("options", {}).get("compile") == "on"
    out = [
        f"Source images/s (rotation: ×4 rotated samples/s; SimCLR, BYOL: ×2 views/s); batch "
        f"{result['throughput'].get('batch')}, {result['throughput'].get('steps')} timed steps per figure (the "
        f"rotation, SimCLR and BYOL workloads: {result.get('options', {}).get('equal_cost_steps', '–')}); every "
        "side runs the model with bf16, "
        f"channels-last and {'torch.compile' if compiled else 'no torch.compile'} (engine eager: the engine "
        "without it). Model-only loops the step on one ready batch: the ceiling; a ratio above 100% is "
        "timing noise.",
        "",
        "| workload | plain DataLoader | engine | model-only | engine eager | engine / plain | engine / model-only |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, row in table.items():
        out.append(
            f"| {WORKLOAD_LABELS.get(key, key)} | {_num(row.get('plain'), ',.0f')} | {_num(row.get('engine'), ',.0f')} "
            f"| {_num(row.get('model_only'), ',.0f')} | {_num(row.get('engine_eager'), ',.0f')} "
            f"| {_num(row.get('engine_over_plain'), '.2f')}× | {_num(row.get('engine_over_model'), '.0%')} |"
        )
    out += _throughput_notes(result, table)
    bar = result.get("bar")
    if bar:
        out += [
            "",
            f"The bar, 200-epoch NIN pretraining in 5 minutes, needs {bar['samples_per_s']:,} rotated samples/s; the "
            f"engine gave {bar['engine_samples_per_s']:,} ({bar['fraction']:.0%}), so 200 epochs take "
            f"{bar['nin_200_epochs_min']:.1f} min ({bar['note']}).",
        ]
    return out


def equal_cost_lines(table: dict[str, Any]) -> list[str]:
    """Per backbone with a rotation workload, the SimCLR and BYOL epochs one RotNet epoch buys;
    or, before any method was measured, that they await a GPU run."""
    ratios = [
        f"{b}: one RotNet epoch costs as much as {r:.2f} {name} epochs"
        for b in [k.removesuffix("-rotation") for k in table if k.endswith("-rotation")]
        for m, name in METHODS.items()
        if (r := equal_cost_ratio(table, b, m)) is not None
    ]
    if not ratios:
        return ["", f"SimCLR and BYOL throughput, and so the equal-cost epochs: {NOT_MEASURED}."]
    return ["", "Equal cost (the method's engine images/s over RotNet's, one backbone): " + "; ".join(ratios) + "."]


def _throughput_notes(result: GpuCheckResult, table: dict[str, Any]) -> list[str]:
    """Why a side has no figure, the equal-cost epochs, or that the methods await a GPU run."""
    rows = result.get("throughput", {}).get("rows") or []
    why = [
        f"{r['workload']} {r['side']}{'' if r['compile'] else ' eager'}: {r.get('skipped') or r.get('error')}"
        for r in rows
        if "images_per_s" not in r
    ]
    out = ["", "Not measured: " + "; ".join(why) + "."] if why else []
    return out + equal_cost_lines(table)


def _cost_cells(entry: dict[str, Any], samples: bool) -> str:
    """One task's cells: images/s (and rotated samples/s), micro-batch, peak GiB."""
    ips = _num(entry.get("images_per_s"), ",.1f")
    if samples:
        ips += f" ({_num(entry.get('samples_per_s'), ',.0f')})"
    return f"{ips} | {_num(entry.get('micro_batch'), 'd')} | {_num(entry.get('peak_gib'), '.2f')}"


def _hours_lines(hours: StudyGpuHours | dict[str, Any]) -> list[str]:
    per = hours.get("per_backbone") or {}
    if not per:
        return []
    sizes = hours.get("train_images") or {}
    datasets = list(sizes)
    heads = " | ".join(f"{d} ({_num(sizes[d], ',d')} train images)" for d in datasets)
    out = [
        "",
        f"GPU-hours of the paper-scale study at these rates ({hours['note']}):",
        "",
        f"| backbone | {heads} | total |",
        "| --- | " + "--- | " * len(datasets) + "--- |",
    ]
    for backbone, h in per.items():
        cells = " | ".join(_num((h["datasets"].get(d) or {}).get("total"), ".2f") for d in datasets)
        out.append(f"| {backbone} | {cells} | {h['total']:.2f} |")
    missing = f" (not measured: {', '.join(hours['unmeasured'])})" if hours.get("unmeasured") else ""
    out.append(f"| all measured{missing} | {' | '.join('' for _ in datasets)} | {hours['total']:.2f} |")
    return out + _method_hours_lines(per, datasets)


def _method_hours_lines(per: dict[str, Any], datasets: list[str]) -> list[str]:
    """Each backbone's RotNet, SimCLR and BYOL pretraining hours side by side (in the totals above)."""
    rows = []
    for backbone, h in per.items():
        for d in datasets:
            got = h["datasets"].get(d) or {}
            if any(m in got for m in METHODS):
                cells = " | ".join(_num(got.get(k), ".2f") for k in ("pretrain", *METHODS))
                rows.append(f"| {backbone} | {d} | {cells} |")
    if not rows:
        return ["", f"SimCLR's and BYOL's GPU-hours: {NOT_MEASURED}."]
    epochs = next(h["epochs"] for h in per.values() if any(m in h.get("epochs", {}) for m in METHODS))
    heads = " | ".join(f"{name} ({epochs.get(m, '–')} epochs)" for m, name in METHODS.items())
    return [
        "",
        "Pretraining GPU-hours per method (a backbone's method without a rate shows –):",
        "",
        f"| backbone | dataset | RotNet ({epochs['pretrain']} epochs) | {heads} |",
        "| --- | --- | --- | --- | --- |",
        *rows,
    ]


def _method_cost_lines(table: dict[str, dict[str, Any]]) -> list[str]:
    """SimCLR and BYOL per backbone at their committed batch (its whole batch in one pass)."""
    rows = [
        f"| {b} | {name} | {_num(e.get('batch'), 'd')} | {_cost_cells(e, True)} |"
        for b, tasks in table.items()
        for m, name in METHODS.items()
        if "images_per_s" in (e := tasks.get(m) or {})
    ]
    if not rows:
        return ["", f"SimCLR and BYOL: {NOT_MEASURED}."]
    return [
        "",
        "| backbone | method | batch | images/s (views/s) | micro-batch | peak GiB |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
    ]


def cost_lines(result: GpuCheckResult) -> list[str]:
    """The per-backbone probe: images/s, micro-batch and peak memory, then the study's GPU-hours."""
    costs: Costs | None = result.get("costs")
    if costs is None:
        return [
            "The per-backbone probe was not part of this run (it predates it): no per-backbone figures yet; "
            f"SimCLR and BYOL: {NOT_MEASURED}."
        ]
    table = costs.get("table") or {}
    if not table:
        return [f"The per-backbone probe did not run: {costs.get('status')}."]
    entries = [e for tasks in table.values() for e in tasks.values()]
    peak_of = next((e["peak_of"] for e in entries if e.get("peak_of")), "not measured")
    out = [
        f"Each backbone trained with its committed recipe and batch through the engine with `micro_batch: auto`, "
        f"{costs.get('steps')} timed steps after as many warm-up steps; source images/s (rotation: rotated "
        f"samples/s in brackets). Peak memory: {peak_of}. Status: {costs.get('status')}.",
        "",
        "| backbone | supervised images/s | micro-batch | peak GiB | rotation images/s (samples/s) | micro-batch "
        "| peak GiB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    out += [
        f"| {b} | {_cost_cells(t.get('supervised') or {}, False)} | {_cost_cells(t.get('rotation') or {}, True)} |"
        for b, t in table.items()
    ]
    out += _method_cost_lines(table)
    why = [
        f"{b} {task}: {' '.join(str(e.get('error') or e.get('skipped')).split())}"
        for b, tasks in table.items()
        for task, e in tasks.items()
        if "images_per_s" not in e
    ]
    if why:
        out += ["", "Not measured: " + "; ".join(why) + "."]
    return out + _hours_lines(costs.get("study_gpu_hours") or {})


def study_lines(result: GpuCheckResult) -> list[str]:
    study = result.get("study") or {}
    plan, pre, probe = study.get("plan"), study.get("pretrain"), study.get("probe")
    if not plan:
        return [f"The paper-protocol study did not run: {study.get('status', 'not started')}."]
    out = [
        f"4-block NIN (width {plan['nin'].get('width')}), the paper's recipe with its schedule compressed to what "
        f"fits the box: pretraining {plan['pretrain_epochs']} epochs (paper 200; lr ×0.2 at "
        f"{plan['pretrain_milestones']}), probes {plan['probe_epochs']} epochs (paper 100; "
        f"{plan['probe_milestones']}, non-linear head {plan['probe_head_milestones'].get('nonlinear')}). "
        f"Data: {study['data']}; epochs chosen on the validation split, test read once.",
        "",
        "| what | test % | paper (official CIFAR-10, full schedule) |",
        "| --- | --- | --- |",
    ]
    if pre:
        out.append(f"| rotation prediction | {_num(pre.get('rotation_test_acc'), '.2f')} | – |")
    if probe:
        for head, label in (("nonlinear", "block 2, non-linear head"), ("conv", "block 2, conv head")):
            got = (probe["block2"].get(head) or {}).get("test_acc")
            out.append(f"| {label} | {_num(got, '.2f')} | {probe['paper_test_acc'][f'block2/{head}']:.2f} |")
    if not probe:
        out += ["", f"Not finished inside the box: {study.get('status')}."]
    return out


def gpu_check_section(found: GpuCheck | None) -> list[str]:
    if found is None:
        return []
    path, result = found
    return [
        "## GPU check (`make gpu-check`)",
        "",
        f"The newest `{path.as_posix()}`: {result['device']}, {result['date']}, torch {result['torch']}; "
        f"{result['elapsed_s']:.0f} s of a {result['budget_s']:.0f} s box; status: {result['status']}.",
        "",
        "### Throughput",
        "",
        *throughput_lines(result),
        "",
        "### Per-backbone training cost",
        "",
        *cost_lines(result),
        "",
        "### The paper's NIN study, time-boxed",
        "",
        *study_lines(result),
        "",
    ]
