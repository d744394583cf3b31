"""The probe's task (rotnet.probing.task): every head on its frozen map, one backbone pass."""

from __future__ import annotations

import pytest
import torch

from rotnet.errors import RotnetError
from rotnet.models.registry import create_backbone
from rotnet.params import ProbeParams, parse_params
from rotnet.probing.task import ProbeTask, probe_heads, probe_task


def _cfg(**probe) -> ProbeParams:
    return parse_params({"probe": {"epochs": 3, "schedule": {"milestones": [2]}, **probe}}).probe


def _backbone():
    torch.manual_seed(0)
    return create_backbone("nin", 4, options={"width": 8}).eval()


def test_every_head_kind_on_every_map_and_the_conv_head_on_conv_layers_only():
    cfg = _cfg(heads=["nonlinear", "linear", "conv"], conv_layers=["block2"], hidden=16)
    heads, layers = probe_heads(_backbone(), cfg, 3, (16, 16), 5, "nin")
    maps = ["block1", "block2", "block3", "block4"]
    expected = {f"{m}/{k}" for m in maps for k in ("nonlinear", "linear")} | {"block2/conv"}
    assert set(heads) == expected and all(layers[o] == o.split("/")[0] for o in heads)
    assert all(h(torch.zeros(2, *_map(o)))[0].shape[-1] == 5 for o, h in heads.items() if o.startswith("block1/"))


def _map(output: str) -> tuple[int, ...]:
    net = _backbone()
    return tuple(net.forward_intermediates(torch.zeros(1, 3, 16, 16))[output.split("/")[0]].shape[1:])


def test_nothing_to_train_is_a_clear_error():
    cfg = _cfg(heads=["conv"], conv_layers=["layer3"])
    with pytest.raises(RotnetError, match=r"no head to train on nin.*probe\.heads.*probe\.conv_layers"):
        probe_heads(_backbone(), cfg, 3, (16, 16), 5, "nin")


def test_the_task_trains_the_heads_alone_on_one_frozen_pass():
    model = _backbone()
    cfg = _cfg(heads=["linear", "nonlinear"], hidden=16, head_milestones={"linear": [1]})
    heads, layers = probe_heads(model, cfg, 3, (16, 16), 5, "nin")
    task = probe_task(heads, layers, model, cfg, 5)
    assert isinstance(task, ProbeTask) and set(task.outputs) == set(heads)
    assert not any(p.requires_grad for p in model.parameters())  # frozen
    task.train()
    assert not model.training and task.heads.training  # BN statistics of the backbone stay fixed
    calls = []
    model.forward_intermediates = _counting(model.forward_intermediates, calls)
    task.features = model.forward_intermediates
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    logits, targets = task.forward(x, y)
    assert len(calls) == 1 and set(logits) == set(heads) and torch.equal(targets, y)
    loss = sum(torch.nn.functional.cross_entropy(v, y) for v in logits.values())
    loss.backward()
    assert all(p.grad is not None for p in task.trainable_module().parameters())
    # Each linear head keeps its own drops (probe.head_milestones); the others the schedule's.
    groups = {o: g.milestones for o, g in zip(task.layers, task.param_groups(), strict=True)}
    assert all(groups[o] == ((1,) if o.endswith("/linear") else None) for o in groups)


def test_snapshot_and_restore_move_one_heads_weights():
    model = _backbone()
    cfg = _cfg(heads=["linear"], hidden=16)
    heads, layers = probe_heads(model, cfg, 3, (16, 16), 5, "nin")
    task = probe_task(heads, layers, model, cfg, 5)
    out = "block1/linear"
    saved = task.snapshot(out)
    with torch.no_grad():
        for p in task.head(out).parameters():
            p.add_(1.0)
    assert not all(torch.equal(saved[k], v) for k, v in task.head(out).state_dict().items())
    task.restore(out, saved)
    assert all(torch.equal(saved[k], v) for k, v in task.head(out).state_dict().items())


def _counting(fn, calls):
    def wrapped(*args, **kwargs):
        calls.append(kwargs.get("upto"))
        return fn(*args, **kwargs)

    return wrapped
