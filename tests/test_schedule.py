import pytest
import torch

from rotnet.params import OptimizerParams, ScheduleParams
from rotnet.training.optim import build_optimizer, build_scheduler, lr_factor


def test_step_schedule_matches_the_paper_table():
    cfg = ScheduleParams(name="step", milestones=[60, 120, 160], gamma=0.2)
    lrs = {e: 0.1 * lr_factor(cfg, e, 200) for e in (0, 59.9, 60, 119, 120, 160, 199)}
    assert lrs[0] == pytest.approx(0.1) and lrs[59.9] == pytest.approx(0.1)
    assert lrs[60] == pytest.approx(0.02) and lrs[119] == pytest.approx(0.02)
    assert lrs[120] == pytest.approx(0.004) and lrs[160] == pytest.approx(0.0008)
    assert lrs[199] == pytest.approx(0.0008)


def test_cosine_with_warmup():
    cfg = ScheduleParams(name="cosine", milestones=[], warmup_epochs=2)
    assert lr_factor(cfg, 0, 10) < 0.01
    assert lr_factor(cfg, 1, 10) == pytest.approx(0.5, abs=1e-3)
    assert lr_factor(cfg, 2, 10) == pytest.approx(1.0)
    assert lr_factor(cfg, 6, 10) == pytest.approx(0.5)
    assert lr_factor(cfg, 10, 10) == pytest.approx(0.0)


def test_scheduler_steps_per_iteration():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], OptimizerParams(lr=1.0))
    sched = build_scheduler(opt, ScheduleParams(milestones=[2], gamma=0.5), epochs=4, steps_per_epoch=3)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == [1.0] * 6 + [0.5] * 6
