"""RangerLars ("Over9000"): RAdam + LARS-style layer-wise trust ratio + Lookahead.

The inner optimizer, :class:`RAdamLars`, is RAdam whose update, decoupled weight decay
included, is rescaled per parameter tensor by the trust ratio ||w|| / ||update|| (as in
LAMB). :func:`rangerlars` wraps it in timm's Lookahead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch


class RAdamLars(torch.optim.Optimizer):
    r"""RAdam with a per-tensor trust ratio (the inner optimizer of RangerLars).

    For each parameter tensor ``w`` with gradient ``g`` at step ``t`` (1-based)::

        m_t = b1 * m_{t-1} + (1 - b1) * g
        v_t = b2 * v_{t-1} + (1 - b2) * g^2
        m_hat = m_t / (1 - b1^t)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
        if rho_t > 5:   # variance of the adaptive lr is tractable: rectify it
            r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            u = r_t * m_hat * sqrt(1 - b2^t) / (sqrt(v_t) + eps)
        else:           # first steps: un-adapted momentum (SGD with bias-corrected momentum)
            u = m_hat
        u = u + weight_decay * w                       # decoupled decay, inside the update
        trust = ||w|| / ||u||   (1 when either norm is 0; clipped to [0, max_trust_ratio])
        w = w - lr * trust * u

    ``u`` before the decay term is exactly torch.optim.RAdam's update (same rho_t > 5
    threshold, same eps placement). Decay goes into ``u`` before the ratio, as in LAMB,
    so every tensor moves by ``lr * ||w||`` per step (unless clipped) whatever the scale
    of its gradient: the layer-wise adaptation of LARS.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        max_trust_ratio: float | None = 10.0,
    ) -> None:
        if lr <= 0 or eps <= 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid RAdamLars settings: lr={lr}, betas={betas}, eps={eps}, wd={weight_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, max_trust_ratio=max_trust_ratio)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            rho_inf = 2 / (1 - b2) - 1
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("RAdamLars does not support sparse gradients")
                state = self.state[p]
                # Test "step", not an empty state: Lookahead keeps its slow weights here too.
                if "step" not in state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(p.grad, 1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)

                bc1, bc2 = 1 - b1**t, 1 - b2**t
                rho_t = rho_inf - 2 * t * b2**t / bc2
                if rho_t > 5:
                    rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                    update = m * (rect * math.sqrt(bc2) / bc1) / (v.sqrt() + group["eps"])
                else:
                    update = m / bc1
                if group["weight_decay"] != 0:
                    update.add_(p, alpha=group["weight_decay"])

                w_norm = torch.linalg.vector_norm(p)
                u_norm = torch.linalg.vector_norm(update)
                # Tensor ops, no .item(): keeps the step free of device syncs.
                trust = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
                if group["max_trust_ratio"] is not None:
                    trust = trust.clamp(0, group["max_trust_ratio"])
                p.add_(update * trust, alpha=-group["lr"])
        return loss


def rangerlars(
    params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    k: int = 6,
    alpha: float = 0.5,
    max_trust_ratio: float | None = 10.0,
) -> torch.optim.Optimizer:
    """RangerLars: :class:`RAdamLars` inside timm's Lookahead (every ``k`` steps the slow
    weights move ``alpha`` of the way to the fast ones and the fast weights restart there).

    The returned object's ``param_groups`` are the inner optimizer's, so lr schedulers and
    ``state_dict``/``load_state_dict`` (slow weights included) work on it directly.
    """
    from timm.optim import Lookahead  # timm takes seconds to import; only this optimizer needs it

    optimizer = Lookahead(RAdamLars(params, lr, betas, eps, weight_decay, max_trust_ratio), alpha=alpha, k=k)
    # timm creates the slow weights lazily at the first sync, from the fast weights of
    # that moment, which makes the first sync a no-op. The Lookahead paper (and the
    # Over9000 Ranger) start them at the initial weights: seed them now.
    with torch.no_grad():
        for group in optimizer.param_groups:
            for p in group["params"]:
                optimizer._base_optimizer.state[p]["lookahead_slow_buff"] = p.detach().clone()
    return optimizer
