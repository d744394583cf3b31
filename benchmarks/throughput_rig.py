"""The throughput benchmark's workloads, each built into a rig the way the stages build an
engine, and the clock every side is timed with (benchmarks/throughput.py)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rotnet.data.device import Batch, DeviceDataset
from rotnet.data.prepared import PreparedDataset, Split, channel_stats
from rotnet.models.registry import create_backbone
from rotnet.params import RuntimeParams, ScheduleParams, TrainParams
from rotnet.training import memory
from rotnet.training.engine import Engine
from rotnet.training.optim import build_optimizer
from rotnet.training.tasks import RotationTask, SupervisedTask, Task

# name: (label, backbone, options, task, rotate)
WORKLOADS = {
    "nin-rotation": ("NIN rotation pretraining", "nin", {}, RotationTask, True),
    "resnet18": ("ResNet-18 supervised", "resnet18", {}, SupervisedTask, False),
    "resnet50": ("ResNet-50 supervised", "resnet50", {}, SupervisedTask, False),
    "effb0-stride": (
        "EfficientNet-B0 (stride) supervised",
        "efficientnet_b0",
        {"small_input": "stride"},
        SupervisedTask,
        False,
    ),
    "effb0-upsample": (
        "EfficientNet-B0 (upsample 128) supervised",
        "efficientnet_b0",
        {"small_input": "upsample", "upsample_size": 128},
        SupervisedTask,
        False,
    ),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def tile(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` repeated to ``n`` rows: every side gets fresh images for all its steps."""
    return np.concatenate([a] * -(-n // len(a)))[:n]


@dataclass
class Rig:
    """One workload's engine, task and training config, built the way the stages build
    them. The engine side trains through it (``Engine.fit``); the model-only side steps the
    same task through the same ``Engine._step``; plain gets a rig of its own."""

    engine: Engine
    task: Task
    cfg: TrainParams
    prepared: bool = False  # the task is on the device and compiled (by fit or by prepare)
    micro: int | None = None  # images per micro-batch, as fit chose them

    def prepare(self) -> None:
        """What ``Engine.fit`` does before its first step, in its order (the micro-batch trial
        runs eager, before compiling: through the compiled model it would add graphs), done
        once: a rig that fit already ran keeps fit's compiled model and micro-batch."""
        if not self.prepared:
            self.engine._prepare(self.task, sync_bn=False)
            self.micro = memory.micro_batch(self.engine, self.task, self.cfg, "bench")
            if self.engine.runtime.compile:
                self.task.compile()
            self.prepared = True

    def step(self) -> Callable[[Batch], None]:
        """The engine's training step with the engine's optimizer (built from the same cfg),
        for a loop that brings its own batches."""
        self.prepare()
        micro = self.micro
        optimizer = build_optimizer(self.task.param_groups(), self.cfg.optimizer)
        self.task.train()

        def step(batch: Batch) -> None:
            optimizer.zero_grad(set_to_none=True)
            self.engine._step(self.task, batch, self.cfg, micro)
            optimizer.step()

        return step


def build_rig(
    key: str,
    images: np.ndarray,
    labels: np.ndarray,
    batch: int,
    steps: int,
    device: torch.device,
    compile_: bool,
    plain: bool = False,
) -> Rig:
    """A fresh, seeded model of workload ``key`` in an engine over ``steps`` batches of
    ``images``. ``plain``: a SupervisedTask over its classes (plain's batches come rotated)."""
    _, name, options, task_cls, rotate = WORKLOADS[key]
    torch.manual_seed(0)
    classes = 4 if rotate else 10
    model = create_backbone(name, classes, options=options)
    mean, std = channel_stats(images)
    runtime = RuntimeParams(device=str(device), compile=compile_)
    n = steps * batch
    split = Split(tile(images, n), tile(labels, n).astype(np.int64))
    small = Split(images[:16], labels[:16].astype(np.int64))
    meta = {"class_names": [str(i) for i in range(10)], "mean": mean, "std": std}
    data = DeviceDataset.from_prepared(
        PreparedDataset("bench", split, small, small, meta), device, runtime.channels_last
    )
    task = SupervisedTask(model, classes) if plain or not rotate else task_cls(model)
    cfg = TrainParams(epochs=2, batch_size=batch, schedule=ScheduleParams(milestones=[]), optimizer={"lr": 0.01})
    return Rig(Engine(data, runtime, device), task, cfg)


def record(rates: list[float], steps: int, warmup: int) -> dict[str, Any]:
    return {"images_per_s": statistics.median(rates), "repeats": rates, "steps": steps, "warmup_steps": warmup}


def timed_repeats(
    step: Callable[[Batch], None],
    batches: Iterator[Batch],
    batch: int,
    steps: int,
    repeats: int,
    warmup: int,
    device: torch.device,
) -> list[float]:
    """Images/s of ``repeats`` runs of ``steps`` steps after ``warmup`` untimed ones, each run
    synchronised and clocked as ``Engine.fit`` clocks an epoch."""
    for _ in range(warmup):
        step(next(batches))
    return [timed_run(step, batches, batch, steps, device) for _ in range(repeats)]


def timed_run(step: Callable[[Batch], None], batches: Iterator[Batch], batch: int, steps: int,
              device: torch.device) -> float:  # fmt: skip
    """Images/s of ``steps`` steps, synchronised and clocked as ``Engine.fit`` clocks an epoch."""
    sync(device)
    t0 = time.monotonic()
    for _ in range(steps):
        step(next(batches))
    sync(device)
    return steps * batch / max(time.monotonic() - t0, 1e-9)
