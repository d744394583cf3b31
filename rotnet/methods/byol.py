"""BYOL's pieces: its loss, the target network, and the target's EMA (momentum) update and schedule.

The online network (backbone, projector, predictor) learns; the target network (backbone,
projector) is an exponential moving average of the online one and is never trained. The loss
asks each view's online prediction to match the target's projection of the other view.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from rotnet.errors import RotnetError


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean over rows of -cos(p, z); ``z`` is the target and gets no gradient. The BYOL
    paper's normalised MSE, ||p/|p| - z/|z|||^2 = 2 - 2 cos, has the same gradient up to a
    factor 2; this is lightly's NegativeCosineSimilarity, whose scale lightly's lr assumes."""
    return -F.cosine_similarity(p, z.detach(), dim=1, eps=1e-8).mean()


def byol_loss(p0: torch.Tensor, p1: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """Symmetrised: view 0's prediction against the target's projection of view 1, and back."""
    return 0.5 * (negative_cosine(p0, z1) + negative_cosine(p1, z0))


def make_target(online: nn.Module) -> nn.Module:
    """A copy of the online network that autograd leaves alone: only update_momentum moves it."""
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def update_momentum(online: nn.Module, target: nn.Module, m: float) -> None:
    """target <- m * target + (1 - m) * online, weight by weight (as lightly's update_momentum).

    Only parameters: BatchNorm's running statistics of the target are its own, kept by its
    forward passes in train mode (BYOL's target normalises with batch statistics, as lightly's)."""
    if not 0 <= m <= 1:
        raise RotnetError(f"the EMA momentum must be in [0, 1], got {m}")
    mine, theirs = list(target.parameters()), list(online.parameters())
    if len(mine) != len(theirs) or any(a.shape != b.shape for a, b in zip(mine, theirs, strict=True)):
        raise RotnetError("update_momentum needs a target made by make_target(online): the weights differ in shape")
    torch._foreach_lerp_(mine, theirs, 1.0 - m)  # target + (1 - m)(online - target), one fused pass


def cosine_momentum(step: int, total_steps: int, start: float, end: float) -> float:
    """The momentum at ``step`` of ``total_steps``: ``start`` at step 0, rising on a half cosine to
    ``end`` at the last step (total_steps - 1) and after it, as lightly's cosine_schedule (BYOL's
    tau = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2). A pure function of the step, so a resumed
    run recomputes it and needs no state for it."""
    if step < 0 or total_steps < 0:
        raise RotnetError(f"cosine_momentum needs step >= 0 and total_steps >= 0, got {step}, {total_steps}")
    if total_steps <= 1 or step >= total_steps - 1:
        return float(end)
    return float(end - (end - start) * (math.cos(math.pi * step / (total_steps - 1)) + 1) / 2)
