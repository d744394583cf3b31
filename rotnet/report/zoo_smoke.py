"""The newest `make zoo-smoke` result (benchmarks/results/zoo-smoke/*.json), as a report
section: each backbone family trained briefly on real images, labelled as a smoke run.

The run is a benchmark, not a DVC stage (it takes minutes per backbone on a CPU and says
nothing the study's own stages do not measure at scale); its JSON is committed and the
report shows the newest beside the study, with its data, machine and date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rotnet.report.gpu_check import newest_json

RESULTS = Path("benchmarks") / "results" / "zoo-smoke"
ZooSmoke = tuple[Path, dict[str, Any]]  # the result file and what it holds


def latest_smoke(folder: Path = RESULTS) -> ZooSmoke | None:
    """The newest `make zoo-smoke` result."""
    return newest_json(folder)


def _recipe(r: dict[str, Any]) -> str:
    warm = f", warm-up {r['warmup_epochs']:g}" if r.get("warmup_epochs") else ""
    smooth = f", smoothing {r['label_smoothing']:g}" if r.get("label_smoothing") else ""
    return f"{r['optimizer']} lr {r['lr']:g}, {r['schedule']}{warm}{smooth}"


def _row(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"| {row['backbone']} | {row['task']} | failed: {' '.join(row['error'].split())} | | | | | |"
    losses = ", ".join(f"{x:.2f}" for x in row["train_loss"])
    micro = row.get("micro_batch") if row.get("micro_batch") != row["recipe"]["batch_size"] else "–"
    return (
        f"| {row['backbone']} | {row['task']} | {_recipe(row['recipe'])} | {row['epochs']} "
        f"| {losses} ({row['chance_loss']:.2f}) | {max(row['val_acc']):.1f} (epoch {row['best_epoch']}) "
        f"| {row['test_acc']:.1f} ({row['chance_acc']:.1f}) | {micro} |"
    )


def zoo_smoke_section(found: ZooSmoke | None) -> list[str]:
    if found is None:
        return []
    path, res = found
    c = res["counts"]
    sets = f" Overrides: {', '.join(f'`{s}`' for s in res['sets'])}." if res.get("sets") else ""
    return [
        "## Zoo smoke run (`make zoo-smoke`): a smoke run, not the study",
        "",
        f"The newest `{path.as_posix()}`: {res['data']}; {c['train']} train / {c['val']} validation / "
        f"{c['test']} test images; {res['date']}, {res['device']} ({res['cpus']} CPUs), torch {res['torch']}. "
        "Each backbone trained from scratch for a few epochs with its committed recipe, the schedule "
        "compressed to those epochs (a warm-up keeps at least one), micro-batches where a step did not fit; "
        f"the test split read once, at the validation-chosen epoch.{sets} Figures this short say whether a "
        "recipe starts to learn, not what it reaches. Its speed is not shown: the machine may have been shared; "
        "the cost table (README, `benchmarks/costs.py`) has the measured images/s.",
        "",
        "| backbone | task | recipe | epochs | train loss by epoch (chance) | best val % | test % (chance) "
        "| micro-batch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_row(r) for r in res["rows"]),
        "",
    ]
