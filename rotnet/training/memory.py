"""How many images a training step can hold at once: ``runtime.micro_batch``.

A step of ``batch_size`` images runs as micro-batches of ``micro`` images whose gradients
are summed (weighted by their share of the batch) before the one optimizer step, so the
global batch and the learning rate keep their meaning. A rotation task rotates inside its
forward, so an image's rotated copies always share a micro-batch. BatchNorm is the
exception: its statistics see one micro-batch at a time.

``auto`` finds the largest micro-batch that fits: on CUDA by trying steps and catching the
out-of-memory error; on the CPU by an estimate from the activations one image saves for
the backward pass (times BACKWARD_FACTOR), because there a step too large is killed by the
kernel, not refused.
On the CPU every run is checked against that estimate before its first step.
``micro_batch`` makes that choice for Engine.fit; its trial passes leave no trace.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from rotnet.data.device import Batch
from rotnet.errors import RotnetError
from rotnet.training.runtime import autocast

if TYPE_CHECKING:  # the engine calls in here; this module never imports it at run time
    from rotnet.params import TrainParams
    from rotnet.training.engine import Engine
    from rotnet.training.tasks import Task

# The share of available memory a CPU step may plan to use: the estimate leaves out the
# allocator's slack, the data, and other processes.
CPU_SHARE = 0.6
# Peak memory of a step over the bytes its forward pass saves for the backward pass, as
# measured on the CPU (peak RSS of the whole process, 2026-11-28): NIN rotation at 128
# images 1.2x, ResNet-50 rotation at 45 1.0x, EfficientNet-B5 rotation at 16 1.5x (its
# depthwise convolutions and SiLUs keep temporaries); the largest is used.
BACKWARD_FACTOR = 1.5


def available_memory() -> int:
    """Bytes this process may still allocate: MemAvailable, capped by a cgroup limit."""
    avail = None
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            room = int(limit) - usage
            avail = room if avail is None else min(avail, room)
    if avail is None:  # no /proc (not Linux): all of physical memory
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return avail


def saved_bytes_per_image(forward: Callable[[int], torch.Tensor], probe_images: int = 2) -> float:
    """Bytes the autograd graph saves per source image: a forward pass of ``probe_images``
    images (a rotation task's forward rotates them) with a hook counting what it keeps."""
    total = 0
    seen: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen:  # a tensor saved twice is stored once
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward(probe_images)
    del out
    return total / probe_images


def model_state_bytes(modules: list[torch.nn.Module]) -> int:
    """Weights, their gradients and the optimizer's state (up to two buffers per weight)."""
    weights = sum(p.numel() * p.element_size() for m in modules for p in m.parameters())
    return 4 * weights


def cpu_micro_batch(per_image: float, fixed: int, batch: int, available: int) -> int:
    """The largest micro-batch (<= ``batch``) whose estimated peak fits the CPU share of
    ``available``; 0 when even one image does not."""
    budget = CPU_SHARE * available - fixed
    if budget <= 0:
        return 0
    return int(min(batch, budget // max(BACKWARD_FACTOR * per_image, 1.0)))


def refuse(desc: str, need: float, available: int, knob: str) -> RotnetError:
    return RotnetError(
        f"{desc}: a training step needs about {need / 2**30:.1f} GiB and {available / 2**30:.1f} GiB is free; {knob}"
    )


def is_cuda_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "CUDA out of memory" in str(err)


def split_sizes(batch: int, micro: int | None) -> list[int]:
    """Images per micro-batch for a step of ``batch`` images (the last may be smaller)."""
    if not micro or micro >= batch:
        return [batch]
    return [micro] * (batch // micro) + ([batch % micro] if batch % micro else [])


def micro_batch(engine: Engine, task: Task, cfg: TrainParams, desc: str) -> int | None:
    """Images per micro-batch (runtime.micro_batch; None: the whole batch at once). On the
    CPU a step that would not fit in memory is refused here, before it is killed."""
    want = engine.runtime.micro_batch
    batch = cfg.batch_size // engine.world.size  # this process's share of a step
    if isinstance(want, int):
        want = min(want, batch)
    if engine.device.type == "cuda":
        return cuda_trial(engine, task, cfg, batch, desc) if want == "auto" else want
    per_image, fixed = cpu_estimate(engine, task)
    available = available_memory()
    fits = cpu_micro_batch(per_image, fixed, batch, available)
    size = batch if want is None else (fits if want == "auto" else want)
    need = fixed + BACKWARD_FACTOR * per_image * max(size, 1)
    if fits == 0:
        raise refuse(
            desc,
            need,
            available,
            "even one image per micro-batch does not fit: use a smaller backbone or input size, or free memory",
        )
    if size > fits:
        knob = (
            f"set runtime.micro_batch: auto (it would take {fits} images at a time) or lower batch_size"
            if want is None
            else f"lower runtime.micro_batch to {fits} or less, or set it to auto"
        )
        raise refuse(desc, need, available, knob)
    return None if size >= batch else size


@contextlib.contextmanager
def leaving_no_trace(engine: Engine, task: Task) -> Iterator[None]:
    """For sizing passes: weights, BatchNorm statistics and the random stream are restored
    afterwards, and under DDP nothing is synchronised."""
    states = [copy.deepcopy(m.state_dict()) for m in task.modules()]
    devices = [engine.device] if engine.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), engine.no_sync(task):
        yield
    for m, state in zip(task.modules(), states, strict=True):
        m.load_state_dict(state)


def cpu_estimate(engine: Engine, task: Task) -> tuple[float, int]:
    """Bytes saved per image by a training forward pass, and the model's fixed bytes. The
    probe pass changes nothing: BatchNorm statistics and the random state are restored."""
    probe = engine.data.train
    n = min(2, len(probe))
    x = probe.normalize(probe.images[:n])
    y = probe.labels[:n]
    task.train()

    def forward(k: int) -> torch.Tensor:
        with autocast(engine.device, engine.runtime.amp):
            return task.forward(x[:k], y[:k])[0]

    with leaving_no_trace(engine, task):
        per_image = saved_bytes_per_image(forward, n)
    return per_image, model_state_bytes(task.modules())


def cuda_trial(engine: Engine, task: Task, cfg: TrainParams, batch: int, desc: str) -> int | None:
    """The largest micro-batch whose forward and backward pass fit on the GPU, halving from
    the whole batch; the trials leave weights, statistics and random state as they were."""
    split = engine.data.train
    size = batch
    task.train()
    with leaving_no_trace(engine, task):
        while size >= 1:
            idx = torch.arange(min(size, len(split)), device=engine.device)
            trial = Batch(split.normalize(split.images[idx]), split.labels[idx])
            try:
                engine._step(task, trial, cfg, None)
                break
            except RuntimeError as err:
                if not is_cuda_oom(err):
                    raise
                size //= 2
            finally:
                for m in task.modules():
                    m.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
    if size < 1:
        raise RotnetError(f"{desc}: one image per step does not fit on the GPU; use a smaller backbone")
    return None if size >= batch else size


def oom_error(desc: str, micro: int | None, batch: int) -> RotnetError:
    """The error of a step that ran out of GPU memory at ``micro`` (None: the whole ``batch``)."""
    return RotnetError(
        f"{desc}: the GPU ran out of memory at {micro or batch} images per step; set runtime.micro_batch to a "
        f"smaller size (or auto, which finds the largest that fits), or lower batch_size"
    )
