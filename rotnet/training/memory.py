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
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from rotnet.errors import RotnetError

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
