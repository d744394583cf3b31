"""make gpu-check, part 1: the throughput table. Engine, plain DataLoader and model-only
(the ceiling) per workload through benchmarks/throughput.py, in a child; the table, its
ratios and the engine against the bar, in the parent.

The equal-cost workloads (SimCLR and BYOL, and the rotation workload of each backbone they
run on) give the report its equal-cost epochs: a method's engine images/s over its
backbone's RotNet engine images/s (rotnet.report.gpu_check.equal_cost_ratio). To fit the
box, each runs ``--equal-cost-steps`` steps per repeat, and its engine and model-only share
one rig and one compile (throughput.measure_sides, their repeats interleaved)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.gpu.children import emit
from benchmarks.gpu.common import device_of, log
from rotnet.report.gpu_check_schema import Bar, ThroughputFigures, ThroughputRow

# The equal-cost workloads, each backbone's rotation first (throughput_rig.WORKLOADS' keys).
EQUAL_COST = ["nin-rotation", "nin-simclr", "nin-byol", "resnet18-rotation", "resnet18-simclr", "resnet18-byol"]
# The default table: the equal-cost workloads, then ResNet-18 supervised. ResNet-50 (a minute
# and a half of compiling on the H200) left the default to make room; --workloads names it.
WORKLOADS = [*EQUAL_COST, "resnet18"]
# Every workload --workloads may name (= throughput_rig.WORKLOADS; the parent imports no torch).
KNOWN = [*WORKLOADS, "resnet50", "effb0-stride", "effb0-upsample"]
# Workloads whose key ends so train a self-supervised method: they have no plain side (the
# row says why: throughput.skip_reason), which no box can add, so it leaves the run complete.
METHOD_SUFFIXES = ("-simclr", "-byol")


def lacks_side(workload: str, side: str) -> bool:
    """Whether ``workload`` has no ``side`` at all (not: it was skipped for time or failed)."""
    return side == "plain" and workload.endswith(METHOD_SUFFIXES)


# The engine's bar: 200 NIN pretraining epochs (45,000 train images x 4 rotations) in 5 minutes.
BAR_IMAGES = 45_000
BAR_SAMPLES_PER_S = 200 * BAR_IMAGES * 4 / 300
CEILING_TOLERANCE = 0.03  # = throughput.CEILING_TOLERANCE (the parent imports no torch)


def phase_throughput(args: argparse.Namespace, rows: Path) -> None:
    import numpy as np

    from rotnet.data.prepared import load_prepared

    train = load_prepared(Path(args.work) / "data" / "prepared" / "cifar10").train
    n = (args.steps + 2) * args.batch
    reps = -(-n // len(train.labels))
    images = np.concatenate([train.images] * reps)[:n]
    labels = np.concatenate([train.labels] * reps)[:n]
    for key, sides, comp in plan(args.workloads, args.compile == "on"):
        steps = min(args.steps, args.equal_cost_steps) if key in EQUAL_COST else args.steps
        measure_into(rows, args, key, sides, comp, steps, images, labels)


def plan(workloads: list[str], compiled: bool) -> list[tuple[str, tuple[str, ...], bool]]:
    """(workload, sides measured together, compile) in the order they run. Per workload, most
    telling first: the ceiling, the engine, plain; then the engine eager (which also tells
    whether compiling pays for the study). An equal-cost workload's engine and model-only
    share one rig (one compile), so its engine figure comes first and cheapest."""
    out: list[tuple[str, tuple[str, ...], bool]] = []
    for w in workloads:
        if w in EQUAL_COST:
            out += [(w, ("engine", "model-only"), compiled), (w, ("plain",), compiled)]
        else:
            out += [(w, (side,), compiled) for side in ("model-only", "engine", "plain")]
        if compiled:
            out.append((w, ("engine",), False))
    return out


def measure_into(rows: Path, args: argparse.Namespace, key: str, sides: tuple[str, ...], comp: bool, steps: int,
                 images, labels) -> None:  # fmt: skip
    """Measure ``sides`` of workload ``key`` together and append one row per side: its
    figures, or why it has none (the time box, a failure, a side the workload lacks)."""
    from benchmarks import throughput
    from benchmarks.throughput_rig import samples_per_image

    base = [{"workload": key, "side": side, "compile": comp} for side in sides]
    left = args.until - time.time()
    if left < args.min_measure_s:
        for row in base:
            emit(rows, {**row, "skipped": f"time box ({left:.0f} s left)"})
        return
    t0 = time.perf_counter()
    device = device_of(args.device)
    try:
        got = throughput.measure_sides(key, images, labels, args.batch, steps, device, comp, args.workers,
                                       args.repeats, sides)  # fmt: skip
    except Exception as err:  # one failed measurement must not cost the others
        for row in base:
            emit(rows, {**row, "error": f"{type(err).__name__}: {err}"[:500]})
        log(f"{key} {'+'.join(sides)} compile={comp}: failed: {err}")
        return
    seconds = round(time.perf_counter() - t0, 1)
    for row in base:
        rec = got[row["side"]]
        if "skipped" in rec:
            emit(rows, {**row, "skipped": rec["skipped"]})
            continue
        ips = rec["images_per_s"]  # the median of the timed repeats, each kept in the row
        emit(rows, {**row, "images_per_s": round(ips, 1), "samples_per_s": round(ips * samples_per_image(key), 1),
                    "repeats_images_per_s": [round(v, 1) for v in rec["repeats"]], "steps": steps,
                    "seconds": seconds})  # fmt: skip
        log(f"{key} {row['side']} compile={comp}: {ips:.1f} images/s ({seconds:.0f} s with warm-up)")


def throughput_table(rows: list[ThroughputRow], compiled: bool) -> dict[str, ThroughputFigures]:
    """Per workload: each side at the table's compile setting, the engine eager beside it."""
    table: dict[str, ThroughputFigures] = {}
    for r in rows:
        if "images_per_s" not in r:
            continue
        key = r["side"].replace("-", "_") + ("_eager" if compiled and not r["compile"] else "")
        table.setdefault(r["workload"], {})[key] = r["images_per_s"]
    for t in table.values():
        e, p, m = t.get("engine"), t.get("plain"), t.get("model_only")
        if e and p:
            t["engine_over_plain"] = round(e / p, 3)
        if e and m:
            t["engine_over_model"] = round(e / m, 3)
        if p and m:
            t["plain_over_model"] = round(p / m, 3)
        # Above 1 + tolerance, model-only is no ceiling: a measurement bug (throughput.ceiling).
        over = (t.get("engine_over_model", 0), t.get("plain_over_model", 0))
        t["ceiling_broken"] = max(over) > 1 + CEILING_TOLERANCE
    return table


def bar(table: dict[str, ThroughputFigures]) -> Bar | None:
    """The faster NIN engine (compiled or eager) against 200 pretraining epochs in 5 minutes."""
    nin = table.get("nin-rotation", {})
    best = max(nin.get("engine") or 0, nin.get("engine_eager") or 0)
    if not best:
        return None
    samples = 4 * best
    return {
        "samples_per_s": round(BAR_SAMPLES_PER_S),
        "engine_samples_per_s": round(samples),
        "fraction": round(samples / BAR_SAMPLES_PER_S, 3),
        "nin_200_epochs_min": round(200 * BAR_IMAGES * 4 / samples / 60, 1),
        "note": f"training steps only, {BAR_IMAGES:,} images per epoch, the faster engine (compiled or eager)",
    }
