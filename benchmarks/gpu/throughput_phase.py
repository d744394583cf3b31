"""make gpu-check, part 1: the throughput table. Engine, plain DataLoader and model-only
(the ceiling) per workload through benchmarks/throughput.py, in a child; the table, its
ratios and the engine against the bar, in the parent."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.gpu.children import emit
from benchmarks.gpu.common import device_of, log
from rotnet.report.gpu_check_schema import Bar, ThroughputFigures, ThroughputRow

WORKLOADS = ["nin-rotation", "resnet18", "resnet50"]
# The engine's bar: 200 NIN pretraining epochs (45,000 train images x 4 rotations) in 5 minutes.
BAR_IMAGES = 45_000
BAR_SAMPLES_PER_S = 200 * BAR_IMAGES * 4 / 300
CEILING_TOLERANCE = 0.03  # = throughput.CEILING_TOLERANCE (the parent imports no torch)


def phase_throughput(args: argparse.Namespace, rows: Path) -> None:
    import numpy as np

    from benchmarks import throughput
    from rotnet.data.prepared import load_prepared

    device = device_of(args.device)
    train = load_prepared(Path(args.work) / "data" / "prepared" / "cifar10").train
    n = (args.steps + 2) * args.batch
    reps = -(-n // len(train.labels))
    images = np.concatenate([train.images] * reps)[:n]
    labels = np.concatenate([train.labels] * reps)[:n]
    compiled = args.compile == "on"
    # Per workload, most telling first: the ceiling, the engine, plain; then the engine eager
    # (which also tells whether compiling pays for the study).
    sides = [("model-only", compiled), ("engine", compiled), ("plain", compiled)]
    plan = [(w, s, c) for w in args.workloads for s, c in sides + ([("engine", False)] if compiled else [])]
    for key, side, comp in plan:
        row = {"workload": key, "side": side, "compile": comp}
        left = args.until - time.time()
        if left < args.min_measure_s:
            emit(rows, {**row, "skipped": f"time box ({left:.0f} s left)"})
            continue
        t0 = time.perf_counter()
        try:
            got = throughput.measure(key, side, images, labels, args.batch, args.steps, device, comp, args.workers,
                                     args.repeats)  # fmt: skip
            ips = got["images_per_s"]  # the median of the timed repeats, each kept in the row
        except Exception as err:  # one failed measurement must not cost the others
            emit(rows, {**row, "error": f"{type(err).__name__}: {err}"[:500]})
            log(f"{key} {side} compile={comp}: failed: {err}")
            continue
        per = 4 if throughput.WORKLOADS[key][4] else 1
        emit(rows, {**row, "images_per_s": round(ips, 1), "samples_per_s": round(ips * per, 1),
                    "repeats_images_per_s": [round(v, 1) for v in got["repeats"]],
                    "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
        log(f"{key} {side} compile={comp}: {ips:.1f} images/s ({time.perf_counter() - t0:.0f} s with warm-up)")


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
