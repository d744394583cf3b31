"""Training throughput of rotnet's engine against a plain PyTorch pipeline and against the
model alone, in one run.

Two workloads by default, same model, batch and step count everywhere:
- NIN rotation pretraining (batch of B images = 4B samples),
- ResNet-18 supervised training.
Others by name (``--workloads``; throughput_rig.WORKLOADS): ResNet-50 and EfficientNet-B0
supervised, ResNet-18 rotation pretraining, and SimCLR and BYOL pretraining on NIN and
ResNet-18 (a batch of B images = two views of each, 2B samples; the method's own-loss task
through ``Engine.fit``, BYOL's EMA update after each step included).
Three ways to feed the same training step:
- plain: the usual recipe: a PIL-image Dataset, torchvision transforms (random crop with
  padding 4, flip, to-tensor, normalize), a DataLoader with worker processes; rotations
  made per image in the Dataset as the paper's code does;
- engine: rotnet's ``Engine.fit``, the uint8 dataset on the device, whole batches augmented
  there, built as the stages build it (channels-last batches when runtime.channels_last);
- model-only: the ceiling any data path can reach: the engine's own step
  (``Engine._step``: the task's forward through the model the engine compiled, the loss,
  the metric counts, backward) and the engine's optimizer, looped on one batch the
  engine's data path made, already on the device; no data work and none of the epoch
  loop's bookkeeping (lr schedule, NaN check), so it does a strict subset of the engine's
  work per step.
Plain runs the same ``Engine._step`` too (through a SupervisedTask on its pre-rotated
batches, the same model graph: ``Task.compile`` compiles only the model), so each ratio
isolates the data path. A method's workload has no plain side (``skip_reason``: its row says
why); its model-only side steps ``Engine._own_step`` and ``Task.after_step`` on one
two-view batch the engine made.

How a side is timed (the same for all three): ``steps`` warm-up steps first, untimed
(compile, autotuning, allocator growth, workers starting; the engine's warm-up is its
first epoch), then ``repeats`` timed runs of ``steps`` steps each, each synchronised on
the device at its start and end with the engine's clock; a side's figure is the MEDIAN of
its repeats, and every repeat is kept in the output. Engine and model-only share one
engine, task and compiled model: fit compiles it, and model-only steps that very graph
with a batch of the same shape, dtype and strides, so nothing recompiles (a test counts
dynamo's graphs). Their repeats are interleaved (one model-only repeat after each engine
epoch, through fit's on_epoch), so a drift of the machine's speed hits both alike.
(``measure``, one side per call as gpu_check times them, builds each side's rig the same
way: compiled identically, not shared, and not interleaved.)

A ratio engine/model-only or plain/model-only above 1 + CEILING_TOLERANCE (3%) means the
ceiling is not one: it is reported as a measurement bug (``ceiling_broken`` and a printed
WARNING), not as noise.

Why the H200 run of 2026-11-28 had ResNet-50's engine at 111% of model-only (the code
before this change; not re-measured on a GPU since): model-only was not the engine's step.
It compiled its own copy of the model inside its own step function (its own loss code,
optimizer and autocast), and fed it a channels-last batch, while the benchmark's engine
was built with a non-channels-last DeviceDataset (unlike the stages), so the two sides ran
differently compiled graphs with different input layouts; model-only was warmed up by one
step only (the engine by a whole epoch), so lazy one-time work after the first step fell
into its timed window; and each side was one timed run (~2.4 s for ResNet-50), so clock and
power-state swings went straight into the ratio. Any of these can put a "ceiling" below
the engine; none of them can now.

Every figure is in source images per second (rotation pretraining trains on 4 rotated
samples per image, SimCLR and BYOL on 2 views: multiply by 4 or 2 for samples/s).

    python benchmarks/throughput.py                  # real images when ../shared has them
    python benchmarks/throughput.py --steps 30 --repeats 5 --device cuda
    python benchmarks/throughput.py --workloads resnet50 effb0-stride effb0-upsample --compile both

Prints the median images/s of each side, the ratios, each side's repeats, and a WARNING
line for every broken ceiling; ``--json`` writes the same rows. The workloads, their rigs and
the clock are in throughput_rig.py; the plain side in throughput_plain.py.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rotnet.training.runtime import describe_device

MINI = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-jpeg-mini.tar.gz"
REPEATS = 5  # timed runs per side; the median is the side's figure
CEILING_TOLERANCE = 0.03  # a side may beat model-only by this much (timer resolution) before it is a bug


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runs without `pip install -e .`

from benchmarks.throughput_plain import plain_side  # noqa: E402
from benchmarks.throughput_rig import (  # noqa: E402
    WORKLOADS,
    Rig,
    build_rig,
    method_of,
    record,
    timed_repeats,
    timed_run,
)


def load_images(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """n real CIFAR-10 train images from the mini archive, or random ones without it."""
    if MINI.is_file():
        from rotnet.data.prepared import load_prepared
        from rotnet.params import DatasetParams
        from rotnet.stages.prepare import prepare as prepare_dataset

        with tempfile.TemporaryDirectory() as tmp:
            cfg = DatasetParams(source="imagefolder", val_size=100)
            prepare_dataset("cifar10", cfg, MINI, Path(tmp) / "p", seed=0)
            data = load_prepared(Path(tmp) / "p")
        reps = -(-n // len(data.train.labels))
        images = np.concatenate([data.train.images] * reps)[:n]
        labels = np.concatenate([data.train.labels] * reps)[:n]
        return images, labels, f"CIFAR-10 JPEG mini ({MINI.name})"
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n), "random images"


def engine_side(rig: Rig, steps: int, repeats: int) -> dict[str, Any]:
    """``Engine.fit`` for 1 + ``repeats`` epochs of ``steps`` steps: epoch 1 is the warm-up,
    each later epoch's images/s is one repeat."""
    cfg = rig.cfg.model_copy(update={"epochs": 1 + repeats})
    result = rig.engine.fit(rig.task, cfg, seed=0, desc="bench")
    # fit prepared and compiled the task: model-only reuses that graph and micro-batch plan.
    rig.prepared, rig.micro = True, result.extra["micro_batch"]
    return record([row["images_per_s"] for row in result.history[1:]], steps, steps)


def engine_and_model_only(rig: Rig, steps: int, repeats: int) -> dict[str, dict[str, Any]]:
    """Both sides on one rig, their repeats interleaved: after each engine epoch (fit's
    ``on_epoch``), one model-only repeat on the graph fit compiled, so a drift of the
    machine's speed (clocks, other processes) lands on both sides alike. Order: engine
    warm-up epoch, model-only warm-up and repeat 1, engine repeat 1, model-only repeat 2, ..."""
    # fit decides the micro-batches eagerly, before compiling; deciding them the same way
    # here, before fit, keeps every trial pass off the compiled model.
    rig.micro = rig.micro_batch()
    rates: list[float] = []
    made: list[tuple[Callable[[Any], None], Any]] = []

    def between_epochs(row: dict[str, float]) -> None:
        if len(rates) == repeats:
            return
        rig.prepared = True  # fit prepared and compiled the task: model-only steps that graph
        if not made:
            made.append(model_only_step(rig))
        step, batch = made[0]
        rig.task.train()  # fit evaluated (eval mode) before calling back
        batches = itertools.repeat(batch)
        if not rates:  # the warm-up: compile is done, this absorbs what the first steps still do lazily
            timed_repeats(step, batches, rig.cfg.batch_size, steps, 0, steps, rig.engine.device)
        rates.append(timed_run(step, batches, rig.cfg.batch_size, steps, rig.engine.device))

    cfg = rig.cfg.model_copy(update={"epochs": 1 + repeats})
    history = rig.engine.fit(rig.task, cfg, seed=0, desc="bench", on_epoch=between_epochs).history
    engine = record([row["images_per_s"] for row in history[1:]], steps, steps)
    return {"engine": engine, "model-only": record(rates, steps, steps)}


def model_only_step(rig: Rig) -> tuple[Callable[[Any], None], Any]:
    """The engine's step and one batch its own data path made (same shape, dtype, strides;
    for a method, one two-view batch)."""
    return rig.step(), rig.first_batch()


def model_only_side(rig: Rig, steps: int, repeats: int, warmup: int | None = None) -> dict[str, Any]:
    """The engine's step looped on one ready batch: the ceiling of any data path."""
    step, batch = model_only_step(rig)
    warmup = steps if warmup is None else warmup
    rates = timed_repeats(step, itertools.repeat(batch), rig.cfg.batch_size, steps, repeats, warmup, rig.engine.device)
    return record(rates, steps, warmup)


SIDES = ("plain", "engine", "model-only")


def skip_reason(key: str, side: str) -> str | None:
    """Why workload ``key`` has no ``side`` (its row records this instead of a figure), or None."""
    method = method_of(key)
    if side == "plain" and method:
        return (
            f"no plain side for {method}: the plain pipeline is the crop-and-flip (and rotation) "
            "PIL Dataset, and a per-image two-view DataLoader of the method's transforms is not built; "
            "the engine and model-only sides are measured"
        )
    return None


def measure_sides(
    key: str,
    images: np.ndarray,
    labels: np.ndarray,
    batch: int,
    steps: int,
    device: torch.device,
    compile_: bool,
    workers: int = 2,
    repeats: int = REPEATS,
    sides: tuple[str, ...] = SIDES,
) -> dict[str, dict[str, Any]]:
    """Each side's record (median images/s, repeats) for one workload, or ``{"skipped": why}``
    for a side the workload does not have (skip_reason). Engine and model-only share one rig,
    their repeats interleaved (engine_and_model_only); plain runs last."""
    unknown = set(sides) - set(SIDES)
    if unknown:
        raise ValueError(f"unknown sides {sorted(unknown)}; choose from {SIDES}")
    out: dict[str, dict[str, Any]] = {}
    skipped = {s: why for s in sides if (why := skip_reason(key, s))}
    sides = tuple(s for s in sides if s not in skipped)
    if {"engine", "model-only"} & set(sides):
        rig = build_rig(key, images, labels, batch, steps, device, compile_)
        if {"engine", "model-only"} <= set(sides):
            out.update(engine_and_model_only(rig, steps, repeats))
        elif "engine" in sides:
            out["engine"] = engine_side(rig, steps, repeats)
        else:
            out["model-only"] = model_only_side(rig, steps, repeats)
    if "plain" in sides:
        own = build_rig(key, images, labels, batch, steps, device, compile_, plain=True)
        out["plain"] = plain_side(own, key, images, labels, steps, repeats, workers)
    return {**out, **{s: {"skipped": why} for s, why in skipped.items()}}


def measure(
    key: str,
    side: str,
    images: np.ndarray,
    labels: np.ndarray,
    batch: int,
    steps: int,
    device: torch.device,
    compile_: bool,
    workers: int = 2,
    repeats: int = REPEATS,
) -> dict[str, Any]:
    """One side on its own rig, compiled identically (the same build_rig, Task.compile and
    Engine._step as measure_sides): for callers that time the sides separately. A side the
    workload does not have comes back as ``{"skipped": why}``."""
    return measure_sides(key, images, labels, batch, steps, device, compile_, workers, repeats, (side,))[side]


def ceiling(figures: dict[str, float | None], tolerance: float = CEILING_TOLERANCE) -> dict[str, Any]:
    """Ratios of the median figures (side name -> images/s) and whether model-only failed
    to bound the engine or plain: a ratio above 1 + ``tolerance`` is a measurement bug."""
    e, p, m = (figures.get(s) for s in ("engine", "plain", "model-only"))
    out: dict[str, Any] = {"tolerance": tolerance}
    if e and p:
        out["engine_over_plain"] = e / p
    over = {name: v / m for name, v in (("engine", e), ("plain", p)) if v and m}
    for name, r in over.items():
        out[f"{name}_over_model"] = r
    bad = {name: r for name, r in over.items() if r > 1 + tolerance}
    out["ceiling_broken"] = bool(bad)
    out["warning"] = (
        "MEASUREMENT BUG: model-only is not a ceiling: "
        + ", ".join(f"{name} at {r:.0%} of it" for name, r in bad.items())
        + f" (tolerance {tolerance:.0%}); find what model-only does differently before reading any ratio"
        if bad
        else None
    )
    return out


def run(
    keys: list[str],
    images: np.ndarray,
    labels: np.ndarray,
    batch: int,
    steps: int,
    device: torch.device,
    compiles: list[bool],
    workers: int,
    repeats: int,
    tolerance: float = CEILING_TOLERANCE,
    sides: tuple[str, ...] = SIDES,
) -> list[dict[str, Any]]:
    """Measures and prints every workload at every compile setting; returns the rows (each
    side's record, the ratios and the ceiling check)."""
    header = ("workload", "compile", "plain", "engine", "model-only", "engine/plain", "engine/model", "plain/model")
    print(f"{header[0]:44s} {header[1]:>7s} " + " ".join(f"{h:>12s}" for h in header[2:]))
    rows = []
    for key in keys:
        for compile_ in compiles:
            got = measure_sides(key, images, labels, batch, steps, device, compile_, workers, repeats, sides)
            check = ceiling({s: r["images_per_s"] for s, r in got.items() if "images_per_s" in r}, tolerance)
            rows.append({"workload": key, "compile": compile_, "sides": got, **check})
            shown_ips = {s: r["images_per_s"] for s, r in got.items() if "images_per_s" in r}
            figures = " ".join(f"{shown_ips[s]:12.1f}" if s in shown_ips else f"{'-':>12s}" for s in SIDES)
            ratios = [check.get(k) for k in ("engine_over_plain", "engine_over_model", "plain_over_model")]
            shown = [
                f"{'-':>12s}" if r is None else f"{r:11.2f}x" if i == 0 else f"{r:11.0%} " for i, r in enumerate(ratios)
            ]
            print(f"{WORKLOADS[key][0]:44s} {'on' if compile_ else 'off':>7s} {figures} {' '.join(shown)}")
            for s, rec in got.items():
                if "skipped" in rec:
                    print(f"{'':44s} {s:>10s} skipped: {rec['skipped']}")
                else:
                    print(f"{'':44s} {s:>10s} repeats: " + ", ".join(f"{v:.1f}" for v in rec["repeats"]))
            if check["warning"]:
                warning = f"WARNING: {WORKLOADS[key][0]}, compile {'on' if compile_ else 'off'}: {check['warning']}"
                print(warning, flush=True)
                print(warning, file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=8, help="steps per timed repeat (and untimed warm-up steps)")
    ap.add_argument("--repeats", type=int, default=REPEATS, help="timed repeats per side; the median is reported")
    ap.add_argument("--batch", type=int, default=128, help="images per batch (rotation: x4 samples; methods: x2 views)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the baseline")
    ap.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=["nin-rotation", "resnet18"])
    ap.add_argument("--compile", choices=["off", "on", "both"], default="off", help="torch.compile the engine's step")
    ap.add_argument("--tolerance", type=float, default=CEILING_TOLERANCE, help="ratio over model-only that is a bug")
    ap.add_argument("--json", type=Path, help="also write the rows (per-repeat figures, medians, ratios) here")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        ap.error("--steps and --repeats must be at least 1")
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    images, labels, source = load_images((args.steps + 2) * args.batch)
    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    print(
        f"device: {describe_device(device)}; data: {source}; batch {args.batch}; "
        f"median of {args.repeats} x {args.steps} timed steps after {args.steps} warm-up steps"
    )
    print("figures: source images/s (rotation pretraining: x4 rotated samples/s; SimCLR, BYOL: x2 views/s)")
    rows = run(
        args.workloads,
        images,
        labels,
        args.batch,
        args.steps,
        device,
        compiles,
        args.workers,
        args.repeats,
        args.tolerance,
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
