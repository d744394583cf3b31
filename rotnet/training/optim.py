"""Optimizers and learning-rate schedules built from params."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from rotnet.params import OptimizerParams, ScheduleParams


def build_optimizer(parameters: Iterable[torch.nn.Parameter], cfg: OptimizerParams) -> torch.optim.Optimizer:
    params = [p for p in parameters if p.requires_grad]
    if cfg.name == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    raise AssertionError(f"unhandled optimizer {cfg.name}")  # params validation lists the valid names


def lr_factor(cfg: ScheduleParams, epoch: float, epochs: int) -> float:
    """Multiplier of the base lr at fractional ``epoch`` (0 = start of training)."""
    if cfg.warmup_epochs > 0 and epoch < cfg.warmup_epochs:
        return (epoch + 1e-3) / cfg.warmup_epochs
    if cfg.name == "step":
        # Whole epochs, as the paper's schedule table: the drop applies from epoch m on.
        return cfg.gamma ** sum(1 for m in cfg.milestones if int(epoch) >= m)
    if cfg.name == "cosine":
        t = (epoch - cfg.warmup_epochs) / max(epochs - cfg.warmup_epochs, 1e-9)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    raise AssertionError(f"unhandled schedule {cfg.name}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: ScheduleParams, epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step scheduler: call ``step()`` after every optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(cfg, step / steps_per_epoch, epochs))
