"""Device choice, seeding and mixed precision, from params."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from rotnet.errors import RotnetError
from rotnet.params import RuntimeParams


def resolve_device(cfg: RuntimeParams) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise RotnetError(
            f"runtime.device is '{cfg.device}' but no CUDA GPU is visible; set runtime.device: auto or cpu"
        )
    return torch.device(cfg.device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_generator(device: torch.device, seed: int) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def setup_threads(cfg: RuntimeParams) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool) -> Iterator[None]:
    """bf16 autocast on CUDA only: on most CPUs bf16 convolutions are slower than fp32."""
    if enabled and device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def describe_precision(device: torch.device, amp: bool) -> dict[str, Any]:
    """The arithmetic a run trained in, for its record: bf16 autocast (CUDA with runtime.amp)
    or fp32, and on CUDA whether fp32 matmuls and convolutions may use TF32 (PyTorch's
    defaults: matmuls no, cuDNN convolutions yes)."""
    cuda = device.type == "cuda"
    tf32 = {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32} if cuda else None
    return {"precision": "bf16 autocast" if amp and cuda else "fp32", "tf32": tf32}


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"
