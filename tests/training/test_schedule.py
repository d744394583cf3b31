from itertools import pairwise

import pytest
import torch
from torch import nn

from rotnet.params import OptimizerParams, ScheduleParams
from rotnet.training.optim import ParamGroup, build_optimizer, build_schedule, lr_factor


def _optimizer(name: str = "sgd", lr: float = 1.0, scale: float | None = None) -> torch.optim.Optimizer:
    """One group at lr, plus (with ``scale``) a second one at scale * lr."""
    groups = [ParamGroup(nn.Linear(2, 2, bias=False))]
    if scale is not None:
        groups.append(ParamGroup(nn.Linear(2, 2, bias=False), scale))
    return build_optimizer(groups, OptimizerParams(name=name, lr=lr, weight_decay=0))


def _lrs(cfg: ScheduleParams, epochs: int, spe: int, val_losses=None, lr: float = 1.0) -> list[float]:
    """The lr used by each optimizer step, driving the schedule as the engine does."""
    opt = _optimizer(lr=lr)
    sched = build_schedule(opt, cfg, epochs, spe)
    out = []
    for epoch in range(epochs):
        for _ in range(spe):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.after_step()
        sched.after_epoch(val_losses[epoch] if val_losses else 1.0)
    return out


def test_step_schedule_matches_the_paper_table():
    cfg = ScheduleParams(name="step", milestones=[60, 120, 160], gamma=0.2)
    lrs = {e: 0.1 * lr_factor(cfg, e, 200) for e in (0, 59.9, 60, 119, 120, 160, 199)}
    assert lrs[0] == pytest.approx(0.1) and lrs[59.9] == pytest.approx(0.1)
    assert lrs[60] == pytest.approx(0.02) and lrs[119] == pytest.approx(0.02)
    assert lrs[120] == pytest.approx(0.004) and lrs[160] == pytest.approx(0.0008)
    assert lrs[199] == pytest.approx(0.0008)


def test_step_schedule_per_step_follows_the_table():
    lrs = _lrs(ScheduleParams(name="step", milestones=[60, 120, 160], gamma=0.2), epochs=200, spe=2, lr=0.1)
    by_epoch = {e: lrs[e * 2] for e in range(200)}
    assert by_epoch[0] == pytest.approx(0.1) and lrs[119] == pytest.approx(0.1)  # last step of epoch 59
    assert by_epoch[60] == pytest.approx(0.02) and by_epoch[119] == pytest.approx(0.02)
    assert by_epoch[120] == pytest.approx(0.004) and by_epoch[159] == pytest.approx(0.004)
    assert by_epoch[160] == pytest.approx(0.0008) and by_epoch[199] == pytest.approx(0.0008)


def test_cosine_with_warmup():
    cfg = ScheduleParams(name="cosine", milestones=[], warmup_epochs=2)
    assert lr_factor(cfg, 0, 10) < 0.01
    assert lr_factor(cfg, 1, 10) == pytest.approx(0.5, abs=1e-3)
    assert lr_factor(cfg, 2, 10) == pytest.approx(1.0)
    assert lr_factor(cfg, 6, 10) == pytest.approx(0.5)
    assert lr_factor(cfg, 10, 10) == pytest.approx(0.0)


def test_cosine_per_step_with_floor():
    cfg = ScheduleParams(name="cosine", milestones=[], warmup_epochs=2, min_lr_ratio=0.1)
    lrs = _lrs(cfg, epochs=10, spe=4)
    assert lrs[0] < 0.01
    assert lrs[4] == pytest.approx(0.5, abs=1e-3)  # halfway through warm-up
    assert lrs[8] == pytest.approx(1.0)  # warm-up done: the peak
    assert lrs[24] == pytest.approx(0.1 + 0.9 * 0.5)  # epoch 6: halfway through the cosine
    assert lrs[-1] > 0.1 and lrs[-1] == pytest.approx(0.1, abs=5e-3)  # the last step: nearly the floor
    assert lr_factor(cfg, 10, 10) == pytest.approx(0.1)
    assert all(a >= b for a, b in pairwise(lrs[8:]))


def test_onecycle_start_peak_end():
    cfg = ScheduleParams(name="onecycle", milestones=[], pct_start=0.3)
    assert lr_factor(cfg, 0, 10) == pytest.approx(1 / 25)
    assert lr_factor(cfg, 3, 10) == pytest.approx(1.0)
    assert lr_factor(cfg, 1.5, 10) == pytest.approx((1 + 1 / 25) / 2)  # cosine: midway in value at midway in time
    assert lr_factor(cfg, 10, 10) == pytest.approx(1 / (25 * 1e4))
    lrs = _lrs(cfg, epochs=10, spe=10)
    assert lrs[0] == pytest.approx(1 / 25) and lrs[30] == pytest.approx(1.0) and max(lrs) == lrs[30]
    assert all(a < b for a, b in pairwise(lrs[:31]))
    assert all(a > b for a, b in pairwise(lrs[30:]))
    assert lrs[-1] < 1e-3


def test_onecycle_leaves_adam_betas_alone():
    opt = _optimizer("adam", lr=0.01)
    sched = build_schedule(opt, ScheduleParams(name="onecycle", milestones=[]), epochs=2, steps_per_epoch=5)
    for _ in range(10):
        opt.step()
        sched.after_step()
        assert opt.param_groups[0]["betas"] == (0.9, 0.999)


def test_cyclic_triangle():
    cfg = ScheduleParams(name="cyclic", milestones=[], cycle_epochs=4, min_lr_ratio=0.1)
    for start in (0, 4):  # first and second cycle
        assert lr_factor(cfg, start, 8) == pytest.approx(0.1)
        assert lr_factor(cfg, start + 1, 8) == pytest.approx(0.55)  # linear: midway up
        assert lr_factor(cfg, start + 2, 8) == pytest.approx(1.0)
        assert lr_factor(cfg, start + 3, 8) == pytest.approx(0.55)
    assert lr_factor(cfg, 8, 8) == pytest.approx(0.1)
    lrs = _lrs(cfg, epochs=8, spe=5)
    assert lrs[0] == pytest.approx(0.1) and lrs[10] == pytest.approx(1.0) and lrs[20] == pytest.approx(0.1)
    assert lrs[30] == pytest.approx(1.0) and min(lrs) == pytest.approx(0.1) and max(lrs) == pytest.approx(1.0)


def test_plateau_has_no_closed_form():
    with pytest.raises(ValueError, match="plateau"):
        lr_factor(ScheduleParams(name="plateau"), 1, 10)


def test_plateau_drops_after_patience_plus_one_bad_epochs():
    cfg = ScheduleParams(name="plateau", milestones=[], patience=2, gamma=0.5)
    # Improving for 4 epochs, then flat: epochs 5, 6, 7 are bad; the third (> patience) drops the lr.
    losses = [4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    lrs = _lrs(cfg, epochs=10, spe=3, val_losses=losses)
    per_epoch = lrs[::3]
    assert per_epoch == pytest.approx([1.0] * 7 + [0.5] * 3)
    # A tiny relative gain (below threshold) does not count as an improvement.
    losses = [1.0, 0.99999, 0.99998, 0.99997, 0.99996]
    assert _lrs(cfg, epochs=5, spe=1, val_losses=losses)[-1] == pytest.approx(0.5)
    # Improving every epoch: no drop.
    assert _lrs(cfg, epochs=8, spe=1, val_losses=[8.0 - e for e in range(8)]) == pytest.approx([1.0] * 8)


def test_plateau_warms_up_per_step_before_deciding():
    cfg = ScheduleParams(name="plateau", milestones=[], patience=0, gamma=0.5, warmup_epochs=2)
    # Epoch 1 ends mid warm-up: not judged (else epoch 2's rise would halve the lr at once).
    # Epoch 2 ends it: its loss is the first best; epoch 3 improves; epoch 4 is worse.
    losses = [5.0, 6.0, 1.0, 2.0, 3.0]
    lrs = _lrs(cfg, epochs=5, spe=4, val_losses=losses)
    assert lrs[0] < 0.01 and lrs[4] == pytest.approx(0.5, abs=1e-3)
    assert all(a < b for a, b in pairwise(lrs[:9]))  # linear warm-up, step by step
    assert lrs[8:12] == pytest.approx([1.0] * 4)  # epoch 3
    assert lrs[12:16] == pytest.approx([1.0] * 4)  # epoch 4
    assert lrs[16:20] == pytest.approx([0.5] * 4)  # epoch 5: halved after epoch 4


SCHEDULES = {
    "step": ScheduleParams(name="step", milestones=[1, 2], warmup_epochs=0.5),
    "cosine": ScheduleParams(name="cosine", milestones=[], warmup_epochs=0.5, min_lr_ratio=0.05),
    "onecycle": ScheduleParams(name="onecycle", milestones=[]),
    "cyclic": ScheduleParams(name="cyclic", milestones=[], cycle_epochs=2, min_lr_ratio=0.1),
    "plateau": ScheduleParams(name="plateau", milestones=[], patience=0, warmup_epochs=0.5),
}


@pytest.mark.parametrize("optimizer", ["sgd", "rangerlars"])
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_lr_scale_ratio_is_kept(name, optimizer):
    opt = _optimizer(optimizer, lr=0.1, scale=0.25)
    sched = build_schedule(opt, SCHEDULES[name], epochs=4, steps_per_epoch=4)
    seen = set()
    for epoch in range(4):
        for _ in range(4):
            full, scaled = (g["lr"] for g in opt.param_groups)
            assert scaled == pytest.approx(0.25 * full), (epoch, full, scaled)
            seen.add(round(full, 12))
            opt.step()
            sched.after_step()
        sched.after_epoch(float(epoch))  # worsening: plateau drops every epoch after warm-up
    assert len(seen) > 2  # the schedule did change the lr


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_state_round_trip(name):
    cfg = SCHEDULES[name]
    opt = _optimizer(lr=0.1)
    sched = build_schedule(opt, cfg, epochs=4, steps_per_epoch=4)

    def run(o, s, epochs):
        out = []
        for epoch in epochs:
            for _ in range(4):
                out.append(o.param_groups[0]["lr"])
                o.step()
                s.after_step()
            s.after_epoch([1.0, 1.0, 2.0, 3.0][epoch])
        return out

    run(opt, sched, [0, 1])
    saved = sched.state_dict()
    resumed_opt = _optimizer(lr=0.1)
    resumed = build_schedule(resumed_opt, cfg, epochs=4, steps_per_epoch=4)
    resumed.load_state_dict(saved)
    assert run(resumed_opt, resumed, [2, 3]) == pytest.approx(run(opt, sched, [2, 3]))


def test_a_group_with_its_own_milestones_drops_on_its_own_epochs():
    # The official probe: the non-linear head drops at 20/40/45, the conv head at 35/70/85,
    # both trained in one optimizer over the same batches.
    groups = [ParamGroup(nn.Linear(2, 2, bias=False), milestones=(20, 40, 45)), ParamGroup(nn.Linear(2, 2))]
    opt = build_optimizer(groups, OptimizerParams(name="sgd", lr=0.1, weight_decay=0, decay_norm_and_bias=False))
    sched = build_schedule(opt, ScheduleParams(name="step", milestones=[35, 70, 85]), 100, 1)
    lrs = []
    for _ in range(100):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.after_step()
    own, rest = [r[0] for r in lrs], [r[1] for r in lrs]
    assert own[19] == pytest.approx(0.1) and own[20] == pytest.approx(0.02)
    assert own[40] == pytest.approx(0.004) and own[45] == pytest.approx(0.0008) and own[99] == pytest.approx(0.0008)
    assert rest[34] == pytest.approx(0.1) and rest[35] == pytest.approx(0.02) and rest[85] == pytest.approx(0.0008)
    assert all(r[1] == r[2] for r in lrs)  # the bias of the second group follows its weights


def test_per_group_milestones_need_the_step_schedule():
    groups = [ParamGroup(nn.Linear(2, 2), milestones=(3,))]
    opt = build_optimizer(groups, OptimizerParams(name="sgd", lr=0.1, weight_decay=0))
    with pytest.raises(ValueError, match="step schedule"):
        build_schedule(opt, ScheduleParams(name="cosine", milestones=[]), 10, 1)
