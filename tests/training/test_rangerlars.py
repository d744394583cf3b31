"""rotnet/training/rangerlars.py: RAdamLars's steps worked by hand and against torch's RAdam,
and RangerLars's Lookahead syncs (build_optimizer's choice of it: test_optim.py)."""

import math

import torch
from torch import nn

from rotnet.training.rangerlars import RAdamLars, rangerlars


def _weight_opt(lr=0.1, wd=0.1, k=6, alpha=0.5):
    layer = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    return layer.weight, rangerlars(layer.parameters(), lr=lr, weight_decay=wd, k=k, alpha=alpha)


GRAD = torch.tensor([[0.5, -1.0], [0.0, 2.0]])


def test_rangerlars_first_step_by_hand():
    w, opt = _weight_opt(lr=0.1, wd=0.1, k=6, alpha=0.5)
    w.grad = GRAD.clone()
    opt.step()
    # Step 1: rho_1 = 1 <= 5, so no rectification: the update is the bias-corrected momentum,
    # m_hat = (1 - b1) g / (1 - b1) = g, plus the decoupled decay 0.1 * w.
    u = [[0.5 + 0.1, -1.0 + 0.2], [0.0 + 0.3, 2.0 + 0.4]]  # [[0.6, -0.8], [0.3, 2.4]]
    trust = math.sqrt(1 + 4 + 9 + 16) / math.sqrt(0.36 + 0.64 + 0.09 + 5.76)  # ||w|| / ||u||, about 2.093
    expected = torch.tensor([[1.0, 2.0], [3.0, 4.0]]) - 0.1 * trust * torch.tensor(u)
    assert torch.allclose(w.detach(), expected, atol=1e-6)
    # Lookahead (k=6) has not synced: the slow weights are still the initial ones.
    slow = opt.state_dict()["state"][0]["lookahead_slow_buff"]
    assert torch.equal(slow, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))


def test_rangerlars_lookahead_syncs_every_k_steps():
    k, alpha = 6, 0.5
    w, opt = _weight_opt(k=k, alpha=alpha)
    w0 = w.detach().clone()
    # The same inner optimizer without Lookahead, fed the same gradients.
    fast = w.detach().clone().requires_grad_(True)
    inner = RAdamLars([fast], lr=0.1, weight_decay=0.1)
    for step in range(1, k + 1):
        w.grad, fast.grad = GRAD.clone(), GRAD.clone()
        opt.step()
        inner.step()
        if step < k:
            assert torch.allclose(w.detach(), fast.detach(), atol=1e-6), step
    assert not torch.allclose(fast.detach(), w0)
    assert torch.allclose(w.detach(), w0 + alpha * (fast.detach() - w0), atol=1e-6)
    assert torch.allclose(opt.state_dict()["state"][0]["lookahead_slow_buff"], w.detach())


def test_radamlars_is_radam_rescaled_per_tensor():
    # With fixed gradients the moments match torch's RAdam, so each step must be RAdam's
    # step (rectified from step 6 on) times ||w|| / ||RAdam update|| (unclipped here: the
    # first rectified updates are small, r_6 is about 0.02, so the ratio exceeds 10).
    gen = torch.Generator().manual_seed(0)
    # float64: RAdam's update is recovered from a weight difference, which float32 would blur.
    grads = [torch.randn(3, 4, generator=gen, dtype=torch.float64) for _ in range(10)]
    start = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    ours = start.clone().requires_grad_(True)
    ref = start.clone().requires_grad_(True)
    opt = RAdamLars([ours], lr=0.01, max_trust_ratio=None)
    ref_opt = torch.optim.RAdam([ref], lr=0.01)
    for g in grads:
        before, ref_before = ours.detach().clone(), ref.detach().clone()
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
        ref_update = (ref_before - ref.detach()) / 0.01
        trust = before.norm() / ref_update.norm()
        assert torch.allclose(before - ours.detach(), 0.01 * trust * ref_update, rtol=1e-6, atol=1e-9)


def test_radamlars_trust_ratio_edge_cases():
    zero = torch.zeros(2, requires_grad=True)  # ||w|| = 0: ratio 1, a plain bias-corrected momentum step
    opt = RAdamLars([zero], lr=0.1)
    zero.grad = torch.tensor([1.0, -2.0])
    opt.step()
    assert torch.allclose(zero.detach(), torch.tensor([-0.1, 0.2]))
    big = torch.full((2,), 100.0, requires_grad=True)  # ||w|| / ||u|| = 1e4, clipped to 10
    opt = RAdamLars([big], lr=0.1)
    big.grad = torch.full((2,), 0.01)
    opt.step()
    assert torch.allclose(big.detach(), torch.full((2,), 100.0 - 0.1 * 10 * 0.01))
