"""The static training step (rotnet.training.graph_step): the same update as the eager
engine, no graph breaks or host syncs under torch.compile(fullgraph=True), a learning rate
that changes without recompiling, and the eager fallbacks refused by name."""

import time

import pytest
import torch

from rotnet.data.device import Batch, DeviceDataset
from rotnet.errors import RotnetError
from rotnet.models.registry import create_backbone
from rotnet.params import AugmentParams, RuntimeParams, ScheduleParams, TrainParams
from rotnet.probing.heads import build_head
from rotnet.probing.task import ProbeTask
from rotnet.training.engine import Engine
from rotnet.training.graph_step import EAGER_FALLBACKS, GraphStep, draws, fallbacks
from rotnet.training.optim import build_optimizer
from rotnet.training.tasks import RotationTask, SupervisedTask
from tests.synthetic import dataset

CPU = torch.device("cpu")
SEED = 3
NO_AUGMENT = AugmentParams(crop_padding=0, flip=False)


def _cfg(batch=8, augment=None, lr=0.05, **extra):
    return TrainParams(
        epochs=2,
        batch_size=batch,
        schedule=ScheduleParams(milestones=[]),
        optimizer={"lr": lr, **extra.pop("optimizer", {})},
        augment=augment or AugmentParams(),
        **extra,
    )


def _data():
    return DeviceDataset.from_prepared(dataset(n_train=32, n_val=8, n_test=8, size=16), CPU)


def _rotation_task():
    torch.manual_seed(0)
    return RotationTask(create_backbone("nin", 4, options={"width": 8}))


def _supervised_task():
    torch.manual_seed(0)
    return SupervisedTask(create_backbone("nin", 4, options={"width": 8}), 4)


def _probe_task():
    torch.manual_seed(0)
    backbone = create_backbone("nin", 4, options={"blocks": 3, "width": 8})
    heads = {f"block2/{k}": build_head(k, torch.Size([8, 4, 4]), 4, 8) for k in ("nonlinear", "conv")}
    return ProbeTask(backbone, heads, {o: "block2" for o in heads}, 4)


def _graph(task, data, cfg, mode="eager", micro=None, **kw):
    opt = build_optimizer(task.param_groups(), cfg.optimizer)
    step = GraphStep(task, data.train, cfg, opt, steps_per_epoch=4, micro=micro, mode=mode, **kw)
    step.start_epoch(SEED, 1)
    return step, opt


def _weights(task):
    return [t.detach().clone() for m in task.modules() for t in (*m.parameters(), *m.buffers())]


def _close(a, b, tol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert torch.allclose(x.float(), y.float(), atol=tol, rtol=tol), (x - y).abs().max()


@pytest.mark.parametrize(("make", "micro"), [(_rotation_task, None), (_probe_task, 4), (_supervised_task, None)])
def test_equals_the_eager_engine_step_with_augmentation_off(make, micro):
    """Same batches (the engine's order for the seed), same SGD update with Nesterov momentum
    and weight decay, same BatchNorm statistics and metrics, over two steps."""
    data, cfg = _data(), _cfg(augment=NO_AUGMENT)
    task, ref = make(), make()
    step, _ = _graph(task, data, cfg, micro=micro)
    engine = Engine(data, RuntimeParams(device="cpu"), CPU)
    opt = build_optimizer(ref.param_groups(), cfg.optimizer)
    order = data.train._order(SEED, 1, None)
    ref.train(), task.train()
    metrics = torch.zeros_like(step.metrics)
    for i in range(2):
        idx = order[i * 8 : (i + 1) * 8]
        opt.zero_grad(set_to_none=True)
        batch = Batch(data.train.normalize(data.train.images[idx]), data.train.labels[idx])
        loss, per_output = engine._step(ref, batch, cfg, micro)
        opt.step()
        metrics += per_output
        got = step.step()
        assert torch.allclose(got, loss, atol=1e-5)
    _close(_weights(task), _weights(ref))
    assert torch.allclose(step.metrics, metrics, atol=1e-5)
    assert int(step.pos) == 2 and float(step.first_bad) == -1.0
    # The trained weights moved: the comparison is not between two untouched models.
    assert any(not torch.equal(a, b) for a, b in zip(_weights(task), _weights(make()), strict=True))


def test_compiles_fullgraph_matches_its_eager_body_and_takes_a_new_lr_without_recompiling():
    """torch.compile(fullgraph=True) fails on any graph break or host sync; the compiled step
    (augmentation on: crop and flip from the counter-based draws) equals the eager body; and
    the schedule's lr, set on the host, changes the update with no new compilation."""
    from torch._dynamo.testing import CompileCounterWithBackend

    data, cfg = _data(), _cfg(batch=4)
    task, ref = _rotation_task(), _rotation_task()
    task.train(), ref.train()
    eager, ref_opt = _graph(ref, data, cfg)
    counter = CompileCounterWithBackend("aot_eager")
    start = time.monotonic()
    compiled, opt = _graph(task, data, cfg, mode="compile", backend=counter)
    losses = [(compiled.step(), eager.step()) for _ in range(2)]
    elapsed = time.monotonic() - start
    for a, b in losses:
        assert torch.allclose(a, b, atol=1e-5)
    _close(_weights(task), _weights(ref))
    assert torch.allclose(compiled.metrics, eager.metrics, atol=1e-5)
    assert elapsed < 60, f"compiling the step took {elapsed:.0f} s"
    params = list(task.model.parameters())
    before = [p.clone() for p in params]
    for group in opt.param_groups:  # as the schedule sets it, on the host
        group["lr"] = 0.0
    compiled.step()
    assert all(torch.equal(a, b) for a, b in zip(before, params, strict=True))  # lr 0: nothing moves
    for o in (opt, ref_opt):
        for group in o.param_groups:
            group["lr"] = 0.02
    compiled.step(), eager.step(), eager.step()  # the eager twin catches up (its lr-0 step moves nothing)
    assert any(not torch.equal(a, b) for a, b in zip(before, params, strict=True))
    assert counter.frame_count == 1  # one compilation for every step and lr
    assert torch.allclose(compiled.metrics[1:], eager.metrics[1:])  # same draws at the same steps


def test_probe_step_compiles_fullgraph_with_the_backbone_frozen():
    data, cfg = _data(), _cfg(batch=4)
    task = _probe_task()
    task.train()
    frozen = [t.clone() for t in (*task.model.parameters(), *task.model.buffers())]
    heads = [p.clone() for p in task.heads.parameters()]
    step, _ = _graph(task, data, cfg, mode="compile", backend="aot_eager")
    for _ in range(2):
        step.step()
    after = (*task.model.parameters(), *task.model.buffers())
    assert all(torch.equal(a, b) for a, b in zip(frozen, after, strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(heads, task.heads.parameters(), strict=True))
    assert float(step.metrics[2].sum()) == 2 * 4 * len(task.outputs)


def test_draws_are_a_function_of_seed_epoch_and_step():
    data, cfg = _data(), _cfg(batch=8)
    a, _ = _graph(_rotation_task(), data, cfg)
    b, _ = _graph(_rotation_task(), data, cfg)
    images = data.train.images[:8]
    first = a.augment(images)
    assert torch.equal(first, b.augment(images))  # same seed, epoch and step
    a.pos.add_(1)
    assert not torch.equal(first, a.augment(images))  # the next step draws afresh
    key, pos = torch.tensor(123), torch.tensor(0)
    values = draws(key, pos, 0, 4096)
    assert int(values.min()) >= 0 and int(values.max()) < 2**32
    offsets = torch.bincount(values % 9, minlength=9).float() / 4096
    assert offsets.min() > 0.08 and offsets.max() < 0.14  # each of the 9 crop offsets ~1/9
    assert 0.45 < float((draws(key, pos, 2, 4096) & 1).float().mean()) < 0.55
    assert not torch.equal(values, draws(key, pos, 1, 4096))


def test_rotation_loss_decreases():
    data, cfg = _data(), _cfg(batch=8, lr=0.2)
    task = _rotation_task()
    task.train()
    step, _ = _graph(task, data, cfg)
    first = [float(step.step()) for _ in range(4)]
    for epoch in range(2, 7):
        step.start_epoch(SEED, epoch)
        last = [float(step.step()) for _ in range(4)]
    assert sum(last) < sum(first) * 0.6  # chance is ln 4 = 1.39


def test_the_eager_fallbacks_are_named_logged_and_refused(capsys):
    assert fallbacks(_cfg()) == {}  # the paper's recipe: crop, flip, SGD, step schedule
    cfg = _cfg(augment=AugmentParams(autoaugment=True, cutmix_prob=0.5), optimizer={"name": "rangerlars"})
    assert set(fallbacks(cfg)) == {"cutmix", "autoaugment", "rangerlars"}
    task = SupervisedTask(create_backbone("nin", 4, options={"width": 8}), 4)
    opt = build_optimizer(task.param_groups(), cfg.optimizer)
    with pytest.raises(RotnetError, match="cutmix, autoaugment, rangerlars.*eager"):
        GraphStep(task, _data().train, cfg, opt, steps_per_epoch=1, desc="t")
    err = capsys.readouterr().err
    for name in ("cutmix", "autoaugment", "rangerlars"):
        assert f"t: {name} needs the eager engine: {EAGER_FALLBACKS[name]}" in err


def test_cuda_graph_mode_is_refused_off_cuda():
    task = _rotation_task()
    cfg = _cfg()
    opt = build_optimizer(task.param_groups(), cfg.optimizer)
    with pytest.raises(RotnetError, match="CUDA"):
        GraphStep(task, _data().train, cfg, opt, steps_per_epoch=1, mode="cuda_graph")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graph capture needs a CUDA GPU")
def test_cuda_graph_replay_equals_the_eager_body():
    cuda = torch.device("cuda")
    data = DeviceDataset.from_prepared(dataset(n_train=32, n_val=8, n_test=8, size=16), cuda)
    cfg = _cfg(batch=8)
    task, ref = _rotation_task(), _rotation_task()
    for t in (task, ref):
        t.model.to(cuda).train()
    graphed, _ = _graph(task, data, cfg, mode="cuda_graph")
    eager, _ = _graph(ref, data, cfg)
    before = _weights(task)
    graphed.capture()
    _close(before, _weights(task), tol=0)  # warm-up and capture leave no trace
    for _ in range(3):
        graphed.step(), eager.step()
    _close(_weights(task), _weights(ref), tol=1e-2)  # bf16 autocast on both
    assert torch.equal(graphed.pos, eager.pos)


def test_a_host_sync_in_the_step_fails_the_fullgraph_check():
    """The CPU check cannot pretend: a branch on a tensor's value in the body breaks the graph."""
    data, cfg = _data(), _cfg(batch=4)
    task = _rotation_task()
    task.train()
    step, _ = _graph(task, data, cfg, mode="compile", backend="aot_eager")
    crop = step.augment
    step.augment = lambda images: crop(images) if images.float().mean() > 0 else images
    with pytest.raises(torch._dynamo.exc.Unsupported):
        step.step()
