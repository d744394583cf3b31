"""The throughput benchmark's workloads, each built into a rig the way the stages build an
engine, and the clock every side is timed with (benchmarks/throughput.py).

A workload trains a backbone with a classification task (supervised, rotation) or with a
self-supervised method's own-loss task (SimCLR, BYOL: rotnet.methods.tasks), whose batches
are two augmented views of each image (``DeviceSplit.view_batches``). The equal-cost epochs
of the report compare ``<backbone>-<method>`` with ``<backbone>-rotation`` (engine side,
source images/s), so every backbone with a method workload has its rotation workload too."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rotnet.data.device import DeviceDataset
from rotnet.data.prepared import PreparedDataset, Split, channel_stats
from rotnet.methods.tasks import method_task
from rotnet.models.registry import create_backbone
from rotnet.params import BYOLParams, MethodParams, RuntimeParams, ScheduleParams, SimCLRParams, TrainParams
from rotnet.training import memory
from rotnet.training.engine import Engine
from rotnet.training.optim import build_optimizer
from rotnet.training.tasks import RotationTask, SupervisedTask, Task

# The self-supervised methods a workload may train: each its params section's defaults
# (lightly's recipe: rotnet.params), at the benchmark's batch.
METHODS: dict[str, type[MethodParams]] = {"simclr": SimCLRParams, "byol": BYOLParams}

# name: (label, backbone, options, task, rotate); task: a Task class, or a METHODS name
WORKLOADS = {
    "nin-rotation": ("NIN rotation pretraining", "nin", {}, RotationTask, True),
    "nin-simclr": ("NIN SimCLR pretraining", "nin", {}, "simclr", False),
    "nin-byol": ("NIN BYOL pretraining", "nin", {}, "byol", False),
    "resnet18-rotation": ("ResNet-18 rotation pretraining", "resnet18", {}, RotationTask, True),
    "resnet18-simclr": ("ResNet-18 SimCLR pretraining", "resnet18", {}, "simclr", False),
    "resnet18-byol": ("ResNet-18 BYOL pretraining", "resnet18", {}, "byol", False),
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


def method_of(key: str) -> str | None:
    """The self-supervised method workload ``key`` trains (a METHODS name), or None."""
    task = WORKLOADS[key][3]
    return task if isinstance(task, str) else None


def samples_per_image(key: str) -> int:
    """Samples a training step runs per source image: 4 rotated copies, 2 views, or the image."""
    return 4 if WORKLOADS[key][4] else 2 if method_of(key) else 1


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
    cfg: TrainParams  # a MethodParams for a method's task
    prepared: bool = False  # the task is on the device and compiled (by fit or by prepare)
    micro: int | None = None  # images per micro-batch, as fit chose them

    def prepare(self) -> None:
        """What ``Engine.fit`` does before its first step, in its order (the micro-batch trial
        runs eager, before compiling: through the compiled model it would add graphs), done
        once: a rig that fit already ran keeps fit's compiled model and micro-batch."""
        if not self.prepared:
            self.engine._prepare(self.task, sync_bn=False)
            self.micro = self.micro_batch()
            if self.engine.runtime.compile:
                self.task.compile()
            self.prepared = True

    def micro_batch(self) -> int | None:
        """Images per micro-batch as fit decides them: an own-loss task (SimCLR, BYOL) runs
        its batch whole (and refuses micro-batches), so it has no sizing passes."""
        if self.task.own_loss:
            self.task.check_whole_batch(self.engine.runtime.micro_batch, self.cfg.batch_size, 1)
            return None
        return memory.micro_batch(self.engine, self.task, self.cfg, "bench")

    def first_batch(self) -> Any:
        """One training batch from the engine's own data path (the task's: views for a method)."""
        return next(self.task.batches(self.engine.data.train, self.cfg, 0, 1, (0, 1)))

    def step(self) -> Callable[[Any], None]:
        """The engine's training step with the engine's optimizer (built from the same cfg),
        for a loop that brings its own batches: ``Engine._step``, or for an own-loss task
        ``Engine._own_step`` then ``Task.after_step`` (BYOL's EMA update), as fit runs them."""
        self.prepare()
        micro = self.micro
        optimizer = build_optimizer(self.task.param_groups(), self.cfg.optimizer)
        self.task.train()
        done = [0]

        def step(batch: Any) -> None:
            optimizer.zero_grad(set_to_none=True)
            if self.task.own_loss:
                self.engine._own_step(self.task, batch)
            else:
                self.engine._step(self.task, batch, self.cfg, micro)
            optimizer.step()
            self.task.after_step(done[0], 1_000_000)  # a long run's early step: BYOL's momentum near its start
            done[0] += 1

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
    ``images``. ``plain``: a SupervisedTask over its classes (plain's batches come rotated).
    A method's task gets its params section's recipe (optimizer, heads) at batch ``batch``,
    its kNN monitor's k capped at the images the rig trains on (the memory bank)."""
    _, name, options, task_cls, rotate = WORKLOADS[key]
    method = method_of(key)
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
    cfg: TrainParams
    if method is not None:
        if plain:
            raise ValueError(f"{key}: a method's workload has no plain side (throughput.skip_reason says why)")
        cfg = METHODS[method](epochs=2, batch_size=batch, knn_k=min(200, n))
        task: Task = method_task(method, model, cfg)
    else:
        task = SupervisedTask(model, classes) if plain or not rotate else task_cls(model)
        cfg = TrainParams(epochs=2, batch_size=batch, schedule=ScheduleParams(milestones=[]), optimizer={"lr": 0.01})
    return Rig(Engine(data, runtime, device), task, cfg)


def record(rates: list[float], steps: int, warmup: int) -> dict[str, Any]:
    return {"images_per_s": statistics.median(rates), "repeats": rates, "steps": steps, "warmup_steps": warmup}


def timed_repeats(
    step: Callable[[Any], None],
    batches: Iterator[Any],
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


def timed_run(step: Callable[[Any], None], batches: Iterator[Any], batch: int, steps: int,
              device: torch.device) -> float:  # fmt: skip
    """Images/s of ``steps`` steps, synchronised and clocked as ``Engine.fit`` clocks an epoch."""
    sync(device)
    t0 = time.monotonic()
    for _ in range(steps):
        step(next(batches))
    sync(device)
    return steps * batch / max(time.monotonic() - t0, 1e-9)
