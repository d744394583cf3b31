"""Optimizers and learning-rate schedules built from params.

Every schedule multiplies each param group's initial lr by a factor (or, for plateau,
by gamma per drop), so groups with different ``lr_scale`` keep their ratio throughout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

from rotnet.params import OptimizerParams, ScheduleParams
from rotnet.training.rangerlars import rangerlars

# Smith's 1cycle constants (torch OneCycleLR's defaults): start at lr/25, end at lr/(25*1e4).
ONECYCLE_DIV = 25.0
ONECYCLE_FINAL_DIV = 1e4


@dataclass(frozen=True)
class ParamGroup:
    """A module trained at ``lr_scale`` times the configured lr."""

    module: torch.nn.Module
    lr_scale: float = 1.0
    # The step schedule's drops for this group alone (probe heads each keep the official
    # head's own drops); None: the schedule's milestones.
    milestones: tuple[int, ...] | None = None


def _torch_groups(groups: Sequence[ParamGroup], cfg: OptimizerParams) -> list[dict[str, Any]]:
    seen: set[int] = set()
    out: list[dict[str, Any]] = []
    for group in groups:
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for p in group.module.parameters():
            # A parameter shared by several modules (or a module listed inside another
            # group's module) is trained once, with the first group's settings.
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            # ndim <= 1: biases and normalisation scales/shifts.
            (no_decay if p.ndim <= 1 and not cfg.decay_norm_and_bias else decay).append(p)
        lr = cfg.lr * group.lr_scale
        own = {"lr": lr} if group.milestones is None else {"lr": lr, "milestones": list(group.milestones)}
        if decay:
            out.append({"params": decay, **own, "weight_decay": cfg.weight_decay})
        if no_decay:
            out.append({"params": no_decay, **own, "weight_decay": 0.0})
    if not out:
        raise ValueError("no trainable parameters: every parameter of the given modules has requires_grad=False")
    return out


def build_optimizer(groups: Sequence[ParamGroup], cfg: OptimizerParams) -> torch.optim.Optimizer:
    """The configured optimizer over the trainable parameters of ``groups``."""
    params = _torch_groups(groups, cfg)  # each group carries its own lr and weight_decay
    if cfg.name == "sgd":
        # torch rejects Nesterov without momentum.
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
    if cfg.name == "adam":  # weight_decay is L2 (added to the gradient)
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    if cfg.name == "adamw":  # weight_decay is decoupled
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    if cfg.name == "rangerlars":
        return rangerlars(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, k=cfg.lookahead_k, alpha=cfg.lookahead_alpha)
    raise AssertionError(f"unhandled optimizer {cfg.name}")  # params validation lists the valid names


def _warmup(cfg: ScheduleParams, epoch: float) -> float:
    # Linear from ~0 (not 0: a zero-lr first step would be wasted) to 1.
    if cfg.warmup_epochs > 0 and epoch < cfg.warmup_epochs:
        return (epoch + 1e-3) / cfg.warmup_epochs
    return 1.0


def lr_factor(cfg: ScheduleParams, epoch: float, epochs: int) -> float:
    """Multiplier of the base lr at fractional ``epoch`` (0 = start of training).

    Closed-form for step, cosine, onecycle and cyclic; plateau depends on the
    validation losses, so it raises ValueError.
    """
    if cfg.name == "step":
        # Whole epochs, as the paper's schedule table: the drop applies from epoch m on.
        base = cfg.gamma ** sum(1 for m in cfg.milestones if int(epoch) >= m)
    elif cfg.name == "cosine":
        t = min(max((epoch - cfg.warmup_epochs) / max(epochs - cfg.warmup_epochs, 1e-9), 0.0), 1.0)
        base = cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
    elif cfg.name == "onecycle":
        # Cosine up from 1/25 to 1 over pct_start of training, then cosine down to 1/(25*1e4),
        # as torch's OneCycleLR (anneal_strategy="cos", two phases) but without cycling momentum.
        start, end = 1 / ONECYCLE_DIV, 1 / (ONECYCLE_DIV * ONECYCLE_FINAL_DIV)
        t = min(max(epoch / epochs, 0.0), 1.0)
        if t < cfg.pct_start:
            base = _cos_ramp(start, 1.0, t / cfg.pct_start)
        else:
            base = _cos_ramp(1.0, end, (t - cfg.pct_start) / (1 - cfg.pct_start))
    elif cfg.name == "cyclic":
        phase = (epoch % cfg.cycle_epochs) / cfg.cycle_epochs  # 0 .. 1 within the current cycle
        base = cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * (1 - abs(2 * phase - 1))
    elif cfg.name == "plateau":
        raise ValueError("the plateau schedule follows the validation loss; it has no closed form")
    else:
        raise AssertionError(f"unhandled schedule {cfg.name}")
    return base * _warmup(cfg, epoch)


def _cos_ramp(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2 * (1 + math.cos(math.pi * pct))


class Schedule:
    """Sets the learning rates; the engine calls ``after_step`` after every optimizer
    step and ``after_epoch`` once per epoch, after validation."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, cfg: ScheduleParams, epochs: int, steps_per_epoch: int
    ) -> None:
        if steps_per_epoch < 1 or epochs < 1:
            raise ValueError(f"need epochs >= 1 and steps_per_epoch >= 1, got {epochs} and {steps_per_epoch}")
        self.optimizer = optimizer
        self.cfg = cfg
        self.steps_per_epoch = steps_per_epoch
        self.plateau: ReduceLROnPlateau | None = None
        if any("milestones" in g for g in optimizer.param_groups) and cfg.name != "step":
            raise ValueError(f"per-group milestones need the step schedule, not {cfg.name}")
        if cfg.name == "plateau":
            # Per-step warm-up first; the plateau logic takes over (per epoch) once it is done.
            self.per_step = LambdaLR(optimizer, lambda step: _warmup(cfg, step / steps_per_epoch))
            self.plateau = ReduceLROnPlateau(
                optimizer, mode="min", factor=cfg.gamma, patience=cfg.patience, threshold=cfg.threshold
            )
        else:
            # A group may carry its own step milestones (ParamGroup.milestones).
            def factor(group_cfg: ScheduleParams) -> Any:
                return lambda step: lr_factor(group_cfg, step / steps_per_epoch, epochs)

            per_group = [
                cfg if "milestones" not in g else cfg.model_copy(update={"milestones": g["milestones"]})
                for g in optimizer.param_groups
            ]
            self.per_step = LambdaLR(optimizer, [factor(c) for c in per_group])

    def _warming_up(self) -> bool:
        return self.per_step.last_epoch / self.steps_per_epoch < self.cfg.warmup_epochs

    def after_step(self) -> None:
        # Plateau: stop the per-step scheduler once warm-up is over, or it would undo the drops.
        if self.plateau is None or self._warming_up():
            self.per_step.step()

    def after_epoch(self, val_loss: float) -> None:
        if self.plateau is not None and not self._warming_up():
            self.plateau.step(val_loss)

    def state_dict(self) -> dict[str, Any]:
        return {
            "per_step": self.per_step.state_dict(),
            "plateau": None if self.plateau is None else self.plateau.state_dict(),
            "lrs": [g["lr"] for g in self.optimizer.param_groups],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.per_step.load_state_dict(state["per_step"])
        if self.plateau is not None:
            self.plateau.load_state_dict(state["plateau"])
        # The lrs in effect when saved: correct whether or not the optimizer's own state
        # (which also holds them) is loaded before or after this.
        for group, lr in zip(self.optimizer.param_groups, state["lrs"], strict=True):
            group["lr"] = lr


def build_schedule(
    optimizer: torch.optim.Optimizer, cfg: ScheduleParams, epochs: int, steps_per_epoch: int
) -> Schedule:
    """The configured lr schedule; it sets the lrs for the first step right away."""
    return Schedule(optimizer, cfg, epochs, steps_per_epoch)
