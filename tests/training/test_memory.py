"""runtime.micro_batch: the same step in pieces, sized to the memory there is, and a run that
cannot fit refused with the knob named (never killed)."""

import pytest
import torch

from rotnet.data.device import Batch, DeviceDataset
from rotnet.errors import RotnetError
from rotnet.models.registry import create_backbone
from rotnet.params import RuntimeParams, ScheduleParams, TrainParams, parse_params
from rotnet.training import memory
from rotnet.training.engine import Engine
from rotnet.training.tasks import RotationTask, SupervisedTask
from tests.synthetic import dataset

CPU = torch.device("cpu")


def _cfg(batch=32, epochs=1):
    return TrainParams(epochs=epochs, batch_size=batch, schedule=ScheduleParams(milestones=[]), optimizer={"lr": 0.05})


def _engine(**runtime):
    data = DeviceDataset.from_prepared(dataset(), CPU, channels_last=True)
    return Engine(data, RuntimeParams(device="cpu", **runtime), CPU)


def test_split_sizes():
    assert memory.split_sizes(32, None) == [32]
    assert memory.split_sizes(32, 64) == [32]
    assert memory.split_sizes(32, 8) == [8, 8, 8, 8]
    assert memory.split_sizes(32, 5) == [5, 5, 5, 5, 5, 5, 2]


@pytest.mark.parametrize("kind", ["rotation", "supervised"])
def test_micro_batches_give_the_whole_batch_gradient(kind):
    """With BatchNorm on running statistics (eval mode) a step is independent of how it is
    split: the summed, share-weighted gradients equal the whole batch's."""
    engine = _engine()
    split = engine.data.train
    batch = Batch(split.normalize(split.images[:32]), split.labels[:32])
    grads, losses = [], []
    for micro in (None, 5):
        torch.manual_seed(0)
        model = create_backbone("nin", 4, options={"width": 8, "blocks": 3}).eval()
        task = RotationTask(model) if kind == "rotation" else SupervisedTask(model, 4)
        calls = []
        real = task.forward
        task.forward = lambda x, y, real=real, calls=calls: calls.append(len(x)) or real(x, y)
        loss, per_output = engine._step(task, batch, _cfg(), micro)
        grads.append([p.grad.clone() for p in model.parameters()])
        losses.append(float(loss))
        per_image = 4 if kind == "rotation" else 1
        mean_loss, correct, count = per_output[:, 0].tolist()
        assert count == 32 * per_image and correct <= count and mean_loss == pytest.approx(float(loss), rel=1e-5)
        # a rotation task rotates inside forward: each image's four copies share a micro-batch
        assert calls == ([32] if micro is None else [5, 5, 5, 5, 5, 5, 2])
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_a_step_too_large_for_the_cpu_is_refused_before_it_starts(monkeypatch):
    engine = _engine()
    model = create_backbone("nin", 4, options={"width": 8})
    task = RotationTask(model)
    per_image, fixed = memory.cpu_estimate(engine, task)
    assert per_image > 0 and fixed > 0
    # Room for about 10 images of a 32-image step.
    room = (fixed + 10.5 * memory.BACKWARD_FACTOR * per_image) / memory.CPU_SHARE
    monkeypatch.setattr(memory, "available_memory", lambda: int(room))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(RotnetError, match=r"set runtime\.micro_batch: auto \(it would take 10 images"):
        engine.fit(task, _cfg(), seed=1, desc="big")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))  # no step ran

    auto = _engine(micro_batch="auto")
    result = auto.fit(RotationTask(create_backbone("nin", 4, options={"width": 8})), _cfg(), seed=1, desc="auto")
    assert result.extra["micro_batch"] == 10
    with pytest.raises(RotnetError, match=r"lower runtime\.micro_batch to 10 or less"):
        _engine(micro_batch=16).fit(RotationTask(create_backbone("nin", 4, options={"width": 8})), _cfg(), 1, "m")
    monkeypatch.setattr(memory, "available_memory", lambda: int(fixed / memory.CPU_SHARE))
    with pytest.raises(RotnetError, match="even one image per micro-batch does not fit"):
        auto.fit(RotationTask(create_backbone("nin", 4, options={"width": 8})), _cfg(), seed=1, desc="tiny")


def test_the_estimate_changes_nothing():
    """Sizing runs a forward pass; BatchNorm statistics and the random stream are restored."""
    engine = _engine()
    torch.manual_seed(0)
    model = create_backbone("efficientnet_b0", 4, options={"small_input": "stride", "drop_path_rate": 0.2})
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.random.get_rng_state()
    memory.cpu_estimate(engine, SupervisedTask(model, 4))
    assert torch.equal(rng, torch.random.get_rng_state())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_cuda_out_of_memory_names_the_knob(monkeypatch):
    engine = _engine()

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(engine, "_step", oom)
    with pytest.raises(RotnetError, match=r"ran out of memory at 32 images per step; set runtime\.micro_batch"):
        engine.fit(RotationTask(create_backbone("nin", 4, options={"width": 8})), _cfg(), seed=1, desc="oom")


def test_micro_batch_runs_and_is_recorded():
    engine = _engine(micro_batch=8)
    torch.manual_seed(0)
    result = engine.fit(RotationTask(create_backbone("nin", 4, options={"width": 16})), _cfg(epochs=3), 1, "micro")
    assert result.extra["micro_batch"] == 8
    assert result.outputs["rotation"].val_acc > 40  # it still learns (chance: 25%)


@pytest.mark.parametrize("value", [0, -2, "big"])
def test_micro_batch_param_is_checked(value):
    with pytest.raises(RotnetError, match="runtime.micro_batch"):
        parse_params({"runtime": {"micro_batch": value}})
    assert parse_params({"runtime": {"micro_batch": "auto"}}).runtime.micro_batch == "auto"
