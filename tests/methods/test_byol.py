"""BYOL's loss, target network, EMA update and momentum schedule: against lightly's
(NegativeCosineSimilarity, update_momentum, cosine_schedule) and against the formulas."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from rotnet.errors import RotnetError
from rotnet.methods.byol import byol_loss, cosine_momentum, make_target, negative_cosine, update_momentum

LIGHTLY = "lightly (a test-only dependency, pyproject's dev extra)"


def _vectors(seed: int, n: int = 6, d: int = 4) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(4)]


def test_loss_is_the_symmetrised_negative_cosine_and_the_target_gets_no_gradient():
    p0, p1, z0, z1 = (v.requires_grad_() for v in _vectors(0))
    loss = byol_loss(p0, p1, z0, z1)
    cos = lambda a, b: float((a.detach() @ b.detach()) / (a.detach().norm() * b.detach().norm()))  # noqa: E731
    by_hand = 0.5 * sum(-cos(p[i], z[i]) for p, z in ((p0, z1), (p1, z0)) for i in range(6)) / 6
    assert loss.item() == pytest.approx(by_hand, rel=1e-12)
    loss.backward()
    assert p0.grad is not None and p1.grad is not None and z0.grad is None and z1.grad is None
    # The BYOL paper's normalised MSE is 2 - 2 cos: the same loss, affinely.
    mse = ((nn.functional.normalize(p0, dim=1) - nn.functional.normalize(z1, dim=1)) ** 2).sum(1).mean()
    assert mse.item() == pytest.approx(2 + 2 * negative_cosine(p0, z1).item(), rel=1e-12)
    assert negative_cosine(z1, z1).item() == pytest.approx(-1.0)


def test_loss_equals_lightlys_negative_cosine_similarity():
    loss_mod = pytest.importorskip("lightly.loss", reason=LIGHTLY)
    crit = loss_mod.NegativeCosineSimilarity()
    p0, p1, z0, z1 = _vectors(1)
    theirs = 0.5 * (crit(p0, z1) + crit(p1, z0))  # lightly's cifar10_benchmark BYOLModel.training_step
    assert byol_loss(p0, p1, z0, z1).item() == pytest.approx(theirs.item(), rel=1e-12)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def test_target_starts_equal_takes_no_gradient_and_moves_by_the_ema():
    online = _net()
    target = make_target(online)
    assert all(torch.equal(a, b) for a, b in zip(online.parameters(), target.parameters(), strict=True))
    assert not any(p.requires_grad for p in target.parameters())
    before = [p.clone() for p in target.parameters()]
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    update_momentum(online, target, 0.9)
    for old, new, on in zip(before, target.parameters(), online.parameters(), strict=True):
        assert torch.allclose(new, 0.9 * old + 0.1 * on)
    kept = [p.clone() for p in target.parameters()]
    update_momentum(online, target, 1.0)  # m = 1: the target stays
    assert all(torch.equal(a, b) for a, b in zip(kept, target.parameters(), strict=True))
    update_momentum(online, target, 0.0)  # m = 0: the target becomes the online network
    assert all(torch.allclose(a, b) for a, b in zip(online.parameters(), target.parameters(), strict=True))


def test_ema_update_equals_lightlys():
    utils = pytest.importorskip("lightly.models.utils", reason=LIGHTLY)
    online = _net()
    ours, theirs = make_target(online), make_target(online)
    with torch.no_grad():
        for p in online.parameters():
            p.mul_(-2.0).add_(0.5)
    for m in (0.99, 0.9, 0.5):
        update_momentum(online, ours, m)
        utils.update_momentum(online, theirs, m)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(next(ours.parameters()), next(online.parameters()))


def test_ema_refuses_a_bad_momentum_or_another_network():
    online = _net()
    with pytest.raises(RotnetError, match="momentum must be in"):
        update_momentum(online, make_target(online), 1.5)
    with pytest.raises(RotnetError, match="make_target"):
        update_momentum(online, nn.Linear(4, 8), 0.9)


def test_cosine_momentum_runs_from_start_to_end_as_lightlys_schedule():
    total = 50
    values = [cosine_momentum(k, total, 0.99, 1.0) for k in range(total + 3)]
    assert values[0] == pytest.approx(0.99) and values[total - 1] == 1.0 and values[-1] == 1.0
    assert all(a <= b for a, b in itertools.pairwise(values))  # rising
    mid = (total - 1) / 2
    assert cosine_momentum(int(mid), total, 0.99, 1.0) == pytest.approx(
        1.0 - 0.01 * (math.cos(math.pi * int(mid) / (total - 1)) + 1) / 2
    )
    assert {cosine_momentum(k, total, 0.99, 0.99) for k in range(total)} == {0.99}  # the CIFAR-10 recipe
    sched = pytest.importorskip("lightly.utils.scheduler", reason=LIGHTLY)
    for total in (1, 2, 10, 391):
        for k in range(total):
            assert cosine_momentum(k, total, 0.996, 1.0) == pytest.approx(sched.cosine_schedule(k, total, 0.996, 1.0))
    with pytest.raises(RotnetError, match="step >= 0"):
        cosine_momentum(-1, 10, 0.99, 1.0)
