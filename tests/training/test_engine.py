import pytest
import torch

from rotnet.data.device import DeviceDataset
from rotnet.models.heads import build_head
from rotnet.models.registry import create_backbone
from rotnet.params import RuntimeParams, ScheduleParams, TrainParams
from rotnet.probing.task import ProbeTask
from rotnet.training.engine import Engine
from rotnet.training.results import accuracy
from rotnet.training.tasks import RotationTask, SupervisedTask
from tests.synthetic import dataset

CPU = torch.device("cpu")
RUNTIME = RuntimeParams(device="cpu", eval_batch_size=64)


def _cfg(epochs=3, lr=0.05):
    return TrainParams(epochs=epochs, batch_size=32, schedule=ScheduleParams(milestones=[]), optimizer={"lr": lr})


def _engine():
    return Engine(DeviceDataset.from_prepared(dataset(), CPU), RUNTIME, CPU)


def test_supervised_training_learns_and_touches_test_once():
    torch.manual_seed(0)
    engine = _engine()
    calls = []
    real = engine.evaluate
    engine.evaluate = lambda task, split: calls.append(split) or real(task, split)
    model = create_backbone("nin", 4, options={"width": 16})
    result = engine.fit(SupervisedTask(model, 4), _cfg(epochs=4), seed=1, desc="t")
    out = result.outputs["supervised"]
    assert out.val_acc > 50  # 4 classes: chance is 25%
    assert out.test_acc > 50
    assert [s is engine.data.test for s in calls].count(True) == 1 and calls[-1] is engine.data.test
    assert len(result.history) == 4 and result.images_per_s > 0
    assert sum(map(sum, out.test_confusion)) == 64


def test_best_validation_epoch_weights_are_kept():
    torch.manual_seed(0)
    engine = _engine()
    model = create_backbone("nin", 4, options={"width": 16})
    task = SupervisedTask(model, 4)
    result = engine.fit(task, _cfg(epochs=4), seed=1, desc="t")
    out = result.outputs["supervised"]
    best_row = result.history[out.best_epoch - 1]
    assert best_row["val_acc/supervised"] == max(r["val_acc/supervised"] for r in result.history)
    # The restored weights reproduce the best epoch's validation accuracy.
    assert accuracy(engine.evaluate(task, engine.data.val)[0]["supervised"]) == out.val_acc


def test_keep_last_keeps_the_final_epochs_weights():
    """keep="last" (pretrain.checkpoint: last, the official code's probes' RotNet): the model
    ends with its last epoch's weights, whatever epoch validated best."""
    results = {}
    for keep in ("best", "last"):
        torch.manual_seed(0)
        engine = _engine()
        task = SupervisedTask(create_backbone("nin", 4, options={"width": 16}), 4)
        # lr 0.3 over 6 epochs: validation peaks at epoch 4 and falls by epoch 6.
        result = engine.fit(task, _cfg(epochs=6, lr=0.3), seed=1, desc="t", keep=keep)
        out = result.outputs["supervised"]
        now = accuracy(engine.evaluate(task, engine.data.val)[0]["supervised"])
        results[keep] = (out, now, result.history)
    (best, best_now, history), (last, last_now, same_history) = results["best"], results["last"]
    val = [r["val_acc/supervised"] for r in history]
    assert val == [r["val_acc/supervised"] for r in same_history]  # the same training either way
    assert best.best_epoch < 6 and val[best.best_epoch - 1] > val[-1]  # so the two must differ
    assert last.best_epoch == 6 and last.val_acc == val[-1] == last_now
    assert best_now == best.val_acc == max(val)


def test_rotation_pretraining_learns_the_pretext_task():
    torch.manual_seed(0)
    result = _engine().fit(RotationTask(create_backbone("nin", 4, options={"width": 16})), _cfg(3), 1, "rot")
    assert result.outputs["rotation"].val_acc > 40  # chance is 25%


def test_probe_keeps_the_backbone_frozen_and_trains_every_head():
    torch.manual_seed(0)
    backbone = create_backbone("nin", 4, options={"width": 16})
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    heads, layers = {}, {}
    for f in backbone.feature_info:
        side = 16 // f.stride
        for kind in ("nonlinear", "linear"):
            heads[f"{f.name}/{kind}"] = build_head(kind, torch.Size([f.channels, side, side]), 4, 32)
            layers[f"{f.name}/{kind}"] = f.name
    head_before = {k: [p.clone() for p in h.parameters()] for k, h in heads.items()}
    result = _engine().fit(ProbeTask(backbone, heads, layers, 4), _cfg(2), 1, "probe")
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, before[k]), f"backbone {k} changed"  # weights and BN running stats
    for k, h in heads.items():
        assert any(not torch.equal(a, b) for a, b in zip(h.parameters(), head_before[k], strict=False)), (
            f"{k} did not train"
        )
    assert set(result.outputs) == set(heads)
    assert all(r.val_acc > 30 for r in result.outputs.values())


def test_same_seed_same_results_on_cpu():
    def run():
        torch.manual_seed(0)
        return _engine().fit(SupervisedTask(create_backbone("nin", 4, options={"width": 16}), 4), _cfg(2), 1, "d")

    a, b = run(), run()
    assert [r["val_acc/supervised"] for r in a.history] == [r["val_acc/supervised"] for r in b.history]
    assert a.outputs["supervised"].test_confusion == b.outputs["supervised"].test_confusion


def test_recipes_train_through_the_engine():
    """CutMix on every batch, label smoothing, AdamW, one-cycle, AutoAugment and resized crops together."""
    torch.manual_seed(0)
    cfg = TrainParams(
        epochs=3,
        batch_size=32,
        label_smoothing=0.1,
        optimizer={"name": "adamw", "lr": 0.003, "weight_decay": 0.05},
        schedule={"name": "onecycle", "milestones": []},
        augment={"cutmix_prob": 1.0, "autoaugment": True, "resize_scale": (0.6, 1.0)},
    )
    result = _engine().fit(SupervisedTask(create_backbone("nin", 4, options={"width": 16}), 4), cfg, 1, "recipes")
    assert result.outputs["supervised"].val_acc > 35  # chance is 25%
    assert result.history[0]["lr"] < result.history[1]["lr"]  # one-cycle warms up


def test_plateau_schedule_reads_the_validation_loss():
    torch.manual_seed(0)
    schedule = {"name": "plateau", "milestones": [], "patience": 0, "gamma": 0.5, "threshold": 0}
    cfg = TrainParams(epochs=6, batch_size=32, optimizer={"lr": 0.5}, schedule=schedule)
    result = _engine().fit(SupervisedTask(create_backbone("nin", 4, options={"width": 16}), 4), cfg, 1, "plateau")
    losses = [r["val_loss"] for r in result.history]
    lrs = [r["lr"] for r in result.history]  # the lr each epoch trained with
    assert lrs[1] == lrs[0]  # the first epoch only sets the best loss
    for i in range(2, 6):  # patience 0: halve right after an epoch that did not beat the best so far
        stalled = losses[i - 1] >= min(losses[: i - 1])
        assert lrs[i] == pytest.approx(lrs[i - 1] * (0.5 if stalled else 1.0)), (i, losses, lrs)


def test_probe_heads_keep_their_own_milestones_in_one_optimizer():
    from rotnet.params import OptimizerParams
    from rotnet.training.optim import build_optimizer, build_schedule

    backbone = create_backbone("nin", 4, options={"blocks": 3, "width": 16})
    heads = {f"block2/{k}": build_head(k, torch.Size([16, 8, 8]), 4, 8) for k in ("nonlinear", "conv")}
    task = ProbeTask(backbone, heads, {o: "block2" for o in heads}, 4, {"block2/nonlinear": [1]})
    groups = task.param_groups()
    assert [g.milestones for g in groups] == [(1,), None]
    opt = build_optimizer(groups, OptimizerParams(lr=0.1))
    sched = build_schedule(opt, ScheduleParams(milestones=[2]), 3, 1)
    lrs = []
    for _ in range(3):
        lrs.append({round(g["lr"], 6) for g in opt.param_groups if "milestones" in g})
        lrs.append({round(g["lr"], 6) for g in opt.param_groups if "milestones" not in g})
        opt.step()
        sched.after_step()
    assert lrs == [{0.1}, {0.1}, {0.02}, {0.1}, {0.02}, {0.02}]


@pytest.mark.parametrize("kind", ["rotation", "probe"])
def test_compile_compiles_the_model_for_training_steps_and_evaluates_eager(monkeypatch, kind):
    """runtime.compile: the training steps run the compiled model; evaluation the eager
    one (no recompiles for eval mode or the last, partial batch)."""
    compiled_calls: list[bool] = []

    def fake_compile(fn):
        def wrapped(*args, **kwargs):
            compiled_calls.append(True)
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(torch, "compile", fake_compile)
    torch.manual_seed(0)
    data = DeviceDataset.from_prepared(dataset(), CPU)
    engine = Engine(data, RUNTIME.model_copy(update={"compile": True}), CPU)
    model = create_backbone("nin", 4, options={"width": 8})
    if kind == "rotation":
        task = RotationTask(model)
    else:
        maps = model.eval().forward_intermediates(torch.zeros(2, 3, 16, 16))
        task = ProbeTask(model, {"block1/linear": build_head("linear", maps["block1"].shape[1:], 4, 8)},
                         {"block1/linear": "block1"}, 4)  # fmt: skip
    result = engine.fit(task, _cfg(epochs=2), seed=1, desc="c")
    steps = 2 * result.steps_per_epoch
    # rotation: the model once per step; probe: the frozen features and the heads per step
    assert len(compiled_calls) == steps * (1 if kind == "rotation" else 2)
    out = result.outputs[task.outputs[0]]  # the test figures are the eager evaluation's
    assert sum(map(sum, out.test_confusion)) == 64 * (4 if kind == "rotation" else 1)
    assert 0 <= out.test_acc <= 100 and out.test_acc == accuracy(torch.tensor(out.test_confusion))


def test_test_each_epoch_records_test_figures_and_changes_no_training():
    """Each epoch's test accuracy is recorded, for a choice made later on validation; the
    fit is otherwise the same, and its best epoch's test figure is the one recorded then."""

    def run(**kw):
        torch.manual_seed(0)
        return _engine().fit(SupervisedTask(create_backbone("nin", 4, options={"width": 16}), 4), _cfg(3), 1, "d", **kw)

    plain, each = run(), run(test_each_epoch=True)
    assert all("test_acc/supervised" not in r for r in plain.history)
    assert [r["val_acc/supervised"] for r in each.history] == [r["val_acc/supervised"] for r in plain.history]
    out = each.outputs["supervised"]
    assert (out.best_epoch, out.test_confusion) == (
        plain.outputs["supervised"].best_epoch,
        plain.outputs["supervised"].test_confusion,
    )
    assert each.history[out.best_epoch - 1]["test_acc/supervised"] == out.test_acc
