"""SimCLR's loss, NT-Xent (normalised temperature-scaled cross entropy), over the whole batch.

For 2N projections (two views of N images) each one's positive is the other view of its
image, and its negatives are the other 2N - 2 projections of the batch. Under DDP each
process holds its share of the batch, so the negatives are gathered from every process:
the loss of each process's rows is taken against the global batch, and the gradient of the
mean over processes equals the one-process gradient of the whole batch (a gloo test checks).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from rotnet.errors import RotnetError


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward returns to each process the gradient every process took
    through its slice (summed with all_reduce): the local features then get the cross-process
    terms too (its own rows against the others' negatives, and theirs against its rows), which a
    gather that is a constant everywhere but the local slice would drop."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.stack(parts)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)  # reduced in place: never autograd's buffer
        dist.all_reduce(grad)  # all_reduce rather than reduce_scatter: gloo has only the former
        return grad[dist.get_rank()]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """(world, *x.shape): every process's ``x``, differentiable; (1, *x.shape) without DDP."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x.unsqueeze(0)
    return _GatherWithGrad.apply(x)


def nt_xent(z0: torch.Tensor, z1: torch.Tensor, temperature: float, gather: bool = True) -> torch.Tensor:
    """NT-Xent of this process's projections of view 0 and view 1, each (n, d), row i of both
    from image i: the mean over its 2n rows of the cross entropy of each row's positive
    against every other projection of the batch (all processes' when ``gather`` under DDP).

    Equals lightly's NTXentLoss(temperature, gather_distributed=gather) (a test checks).
    """
    if z0.shape != z1.shape or z0.dim() != 2:
        shapes = f"{tuple(z0.shape)}, {tuple(z1.shape)}"
        raise RotnetError(f"nt_xent needs two (n, d) projections of one shape, got {shapes}")
    if temperature <= 0:
        raise RotnetError(f"NT-Xent temperature must be > 0, got {temperature}; lightly's benchmark uses 0.5")
    n = z0.shape[0]
    local = F.normalize(torch.stack([z0, z1]), dim=2)  # (2, n, d)
    parts = gather_with_grad(local) if gather else local.unsqueeze(0)  # (world, 2, n, d)
    world = parts.shape[0]
    rank = dist.get_rank() if world > 1 else 0
    # Keys ordered view-major: view v of image j of process r sits at v * N + r * n + j (N = world * n).
    keys = parts.transpose(0, 1).reshape(2 * world * n, -1)
    big_n = world * n
    rows = local.reshape(2 * n, -1)
    logits = rows @ keys.T / temperature  # (2n, 2N)
    own = torch.arange(n, device=z0.device) + rank * n  # each local image's index in the global batch
    self_col = torch.cat([own, own + big_n])
    positive = torch.cat([own + big_n, own])
    # A projection is not its own negative.
    is_self = F.one_hot(self_col, 2 * big_n).bool()
    return F.cross_entropy(logits.masked_fill(is_self, float("-inf")), positive)
