"""NT-Xent: against lightly's NTXentLoss, against the formula written out, and across two gloo
processes against the whole batch in one."""

from __future__ import annotations

import datetime
import math
import socket
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from rotnet.errors import RotnetError
from rotnet.methods.ntxent import gather_with_grad, nt_xent

N, D, T = 8, 5, 0.5


def _projections(seed: int = 0, n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, D, generator=g, dtype=torch.float64), torch.randn(n, D, generator=g, dtype=torch.float64)


def _formula(z0: torch.Tensor, z1: torch.Tensor, t: float) -> float:
    """SimCLR's loss as the paper writes it, one anchor at a time."""
    z = F.normalize(torch.cat([z0, z1]), dim=1)
    n = len(z0)
    total = 0.0
    for i in range(2 * n):
        pos = (i + n) % (2 * n)
        sims = [float(z[i] @ z[k]) / t for k in range(2 * n) if k != i]
        total += -(float(z[i] @ z[pos]) / t - math.log(sum(math.exp(s) for s in sims)))
    return total / (2 * n)


def test_nt_xent_is_the_papers_formula():
    z0, z1 = _projections()
    assert nt_xent(z0, z1, T).item() == pytest.approx(_formula(z0, z1, T), rel=1e-10)
    # The temperature matters, and identical views (the positive as close as can be) cost less.
    assert nt_xent(z0, z1, 0.1).item() == pytest.approx(_formula(z0, z1, 0.1), rel=1e-10)
    assert nt_xent(z0, z0 + 1e-3, T) < nt_xent(z0, z1, T)


def test_nt_xent_equals_lightlys_loss_and_gradient():
    lightly_loss = pytest.importorskip("lightly.loss", reason="lightly (a test-only dependency, pyproject's dev extra)")
    for t in (0.5, 0.1):
        a0, a1 = (z.clone().requires_grad_() for z in _projections(1))
        b0, b1 = (z.clone().requires_grad_() for z in _projections(1))
        mine, theirs = nt_xent(a0, a1, t), lightly_loss.NTXentLoss(temperature=t)(b0, b1)
        assert mine.item() == pytest.approx(theirs.item(), rel=1e-12)
        mine.backward()
        theirs.backward()
        assert torch.allclose(a0.grad, b0.grad, atol=1e-12) and torch.allclose(a1.grad, b1.grad, atol=1e-12)


def test_bad_input_is_named():
    z0, z1 = _projections()
    with pytest.raises(RotnetError, match="temperature must be > 0"):
        nt_xent(z0, z1, 0.0)
    with pytest.raises(RotnetError, match="two \\(n, d\\) projections of one shape"):
        nt_xent(z0, z1[:4], T)


def test_without_a_process_group_gather_is_the_local_batch():
    z0, _ = _projections()
    assert torch.equal(gather_with_grad(z0), z0.unsqueeze(0))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _naive_gather(x: torch.Tensor) -> torch.Tensor:
    """The other processes' features as constants, the local slice with its gradient."""
    import torch.distributed as dist

    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    parts[dist.get_rank()] = x
    return torch.stack(parts)


def _rank_step(rank: int, world: int, port: int, out: str) -> None:
    """This process's half of the batch: its loss and its features' gradients, with the
    gradient-carrying gather and with the naive one (lightly is not imported here: it costs
    seconds per process, and its one-process loss is compared above)."""
    import torch.distributed as dist

    # A bounded wait: rank 0 runs inside pytest, and must not hang if the other process dies.
    wait = datetime.timedelta(seconds=60)
    dist.init_process_group("gloo", init_method=f"tcp://localhost:{port}", rank=rank, world_size=world, timeout=wait)
    try:
        _both_gathers(rank, world, out)
    finally:
        dist.destroy_process_group()


def _both_gathers(rank: int, world: int, out: str) -> None:
    z0, z1 = _projections()
    n = N // world
    mine = slice(rank * n, (rank + 1) * n)
    found = {}
    for kind in ("ours", "naive"):
        gather = _naive_gather if kind == "naive" else gather_with_grad
        with mock.patch("rotnet.methods.ntxent.gather_with_grad", gather):
            a0, a1 = z0[mine].clone().requires_grad_(), z1[mine].clone().requires_grad_()
            loss = nt_xent(a0, a1, T)
            loss.backward()
        found[kind] = (loss.detach(), a0.grad, a1.grad)
    torch.save(found, f"{out}.{rank}")


def test_two_processes_gather_negatives_and_match_the_whole_batch(tmp_path):
    import torch.multiprocessing as mp

    world, port = 2, _free_port()
    out = str(tmp_path / "rank")
    # Rank 1 in a spawned process, rank 0 here: one fresh interpreter (torch's import) instead of two.
    other = mp.get_context("spawn").Process(target=_rank_step, args=(1, world, port, out))
    other.start()
    try:
        _rank_step(0, world, port, out)
    finally:
        other.join(timeout=120)
    assert other.exitcode == 0
    ranks = [torch.load(f"{out}.{r}") for r in range(world)]
    z0, z1 = (z.clone().requires_grad_() for z in _projections())
    whole = nt_xent(z0, z1, T)
    whole.backward()

    def matches(kind: str) -> bool:
        # DDP averages the processes' gradients: (1/world) x the sum each process's features got.
        loss = sum(r[kind][0] for r in ranks) / world
        g0 = torch.cat([r[kind][1] for r in ranks]) / world
        g1 = torch.cat([r[kind][2] for r in ranks]) / world
        assert loss.item() == pytest.approx(whole.item(), rel=1e-12)  # the loss itself never needs the gradient
        return torch.allclose(g0, z0.grad, atol=1e-12) and torch.allclose(g1, z1.grad, atol=1e-12)

    assert matches("ours")
    # Without the gradient through the gather, the cross-process terms are lost: the check can fail.
    assert not matches("naive")
