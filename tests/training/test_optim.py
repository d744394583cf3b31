import io

import pytest
import torch
from torch import nn

from rotnet.params import OptimizerParams
from rotnet.training.optim import ParamGroup, build_optimizer

OPTIMIZERS = {
    "sgd": OptimizerParams(name="sgd", lr=0.1),
    "adam": OptimizerParams(name="adam", lr=0.01),
    "adamw": OptimizerParams(name="adamw", lr=0.01, weight_decay=0.01),
    # RangerLars moves each tensor by about lr * ||w|| per step, whatever its gradient scale.
    "rangerlars": OptimizerParams(name="rangerlars", lr=0.05, weight_decay=1e-3),
}


def _problem(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A 2-layer MLP and a fixed random 3-class set it can fit."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 8, generator=g)
    y = torch.randint(0, 3, (64,), generator=g)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 3))
    return model, x, y


def _train(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model(x), y))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_fits_a_small_problem(name):
    model, x, y = _problem()
    with torch.no_grad():
        before = float(nn.functional.cross_entropy(model(x), y))
    after = _train(model, build_optimizer([ParamGroup(model)], OPTIMIZERS[name]), x, y, steps=40)
    assert after < 0.6 * before, (name, before, after)


def _groups_of(opt: torch.optim.Optimizer) -> dict[int, dict]:
    return {id(p): g for g in opt.param_groups for p in g["params"]}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_biases_and_norm_weights_are_not_decayed(name):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    cfg = OPTIMIZERS[name].model_copy(update={"weight_decay": 0.05, "decay_norm_and_bias": False})
    groups = _groups_of(build_optimizer([ParamGroup(model)], cfg))
    for pname, p in model.named_parameters():
        expected = 0.0 if p.ndim <= 1 else 0.05
        assert groups[id(p)]["weight_decay"] == expected, pname
    groups = _groups_of(build_optimizer([ParamGroup(model)], cfg.model_copy(update={"decay_norm_and_bias": True})))
    assert all(groups[id(p)]["weight_decay"] == 0.05 for p in model.parameters())
    # The default, as the official code: every parameter decays.
    assert OptimizerParams().decay_norm_and_bias


def test_frozen_parameters_are_left_out():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    frozen_head = nn.Linear(2, 2).requires_grad_(False)
    opt = build_optimizer([ParamGroup(frozen_head), ParamGroup(model)], OptimizerParams(decay_norm_and_bias=False))
    listed = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(listed) == sorted(id(p) for p in model[1].parameters())
    assert len(opt.param_groups) == 2  # model[1]: weight (decayed) and bias; nothing from frozen_head
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_optimizer([ParamGroup(frozen_head)], OptimizerParams())


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_lr_scale_groups_and_shared_parameters_once(name):
    # Finetune layout: the head at full lr listed first, then the whole model (head included) scaled.
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    cfg = OPTIMIZERS[name]
    opt = build_optimizer([ParamGroup(model[2]), ParamGroup(model, 0.1)], cfg)
    listed = [id(p) for g in opt.param_groups for p in g["params"]]
    assert len(listed) == len(set(listed)) == 4
    groups = _groups_of(opt)
    for p in model[2].parameters():
        assert groups[id(p)]["lr"] == pytest.approx(cfg.lr)
    for p in model[0].parameters():
        assert groups[id(p)]["lr"] == pytest.approx(0.1 * cfg.lr)


def test_sgd_and_adam_settings():
    model = nn.Linear(2, 2)
    sgd = build_optimizer([ParamGroup(model)], OptimizerParams(name="sgd", momentum=0.0, nesterov=True))
    assert sgd.param_groups[0]["nesterov"] is False  # torch rejects Nesterov without momentum
    sgd = build_optimizer([ParamGroup(model)], OptimizerParams(name="sgd", momentum=0.8))
    assert sgd.param_groups[0]["nesterov"] is True and sgd.param_groups[0]["momentum"] == 0.8
    adam = build_optimizer([ParamGroup(model)], OptimizerParams(name="adam", betas=(0.8, 0.99), eps=1e-6))
    assert type(adam) is torch.optim.Adam and adam.param_groups[0]["betas"] == (0.8, 0.99)
    assert adam.param_groups[0]["eps"] == 1e-6
    assert type(build_optimizer([ParamGroup(model)], OptimizerParams(name="adamw"))) is torch.optim.AdamW


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_round_trip(name):
    cfg = OPTIMIZERS[name].model_copy(update={"lookahead_k": 2})  # a Lookahead sync after the reload
    model, x, y = _problem()
    opt = build_optimizer([ParamGroup(model)], cfg)
    _train(model, opt, x, y, steps=3)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)  # as a checkpoint would be read back
    clone, _, _ = _problem(seed=1)
    clone.load_state_dict(saved["model"])
    clone_opt = build_optimizer([ParamGroup(clone)], cfg)
    clone_opt.load_state_dict(saved["opt"])
    assert _train(model, opt, x, y, steps=3) == _train(clone, clone_opt, x, y, steps=3)
    for a, b in zip(model.parameters(), clone.parameters(), strict=True):
        assert torch.equal(a, b)
