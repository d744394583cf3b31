"""SimCLR and BYOL through the engine: they learn, they resume exactly, they refuse micro-batches."""

from __future__ import annotations

import math

import pytest
import torch

from rotnet.data.device import DeviceDataset
from rotnet.errors import RotnetError
from rotnet.methods import byol
from rotnet.methods.tasks import KNN, BYOLTask, SimCLRTask, method_task
from rotnet.models.registry import create_backbone
from rotnet.params import BYOLParams, RuntimeParams, SimCLRParams
from rotnet.training.engine import Checkpointing, Engine
from tests.synthetic import dataset

CPU = torch.device("cpu")
RUNTIME = RuntimeParams(device="cpu", eval_batch_size=64)
SMALL = {"batch_size": 32, "projector_hidden": 32, "projector_out": 16, "optimizer": {"lr": 0.1, "nesterov": False}}


def _engine(runtime: RuntimeParams = RUNTIME) -> Engine:
    return Engine(DeviceDataset.from_prepared(dataset(n_train=128), CPU), runtime, CPU)


def _backbone() -> torch.nn.Module:
    return create_backbone("nin", 4, options={"width": 16})


def _byol(epochs: int = 2, **more) -> BYOLParams:
    return BYOLParams(epochs=epochs, predictor_hidden=32, momentum_start=0.9, momentum_end=1.0, **SMALL, **more)


def test_simclr_trains_through_the_engine_and_is_judged_by_knn_on_validation():
    torch.manual_seed(0)
    engine = _engine()
    calls = []
    real = engine.evaluate
    engine.evaluate = lambda task, split: calls.append(split) or real(task, split)
    task = SimCLRTask(_backbone(), SimCLRParams(epochs=2, **SMALL))
    result = engine.fit(task, task.cfg, seed=1, desc="simclr")
    assert task.outputs == [KNN] and set(result.outputs) == {KNN}
    out = result.outputs[KNN]
    assert sum(map(sum, out.test_confusion)) == 64  # every test image, classified by its neighbours
    assert [s is engine.data.test for s in calls].count(True) == 1  # one look at test
    rows = result.history
    assert len(rows) == 2 and all(math.isfinite(r["train_loss"]) for r in rows)
    assert all(0 <= r["train_acc/simclr"] <= 100 for r in rows)  # the positive's top-1 among the batch
    assert all("val_acc/knn" in r for r in rows) and all(math.isnan(r["val_loss"]) for r in rows)


def test_byol_moves_the_target_by_ema_only():
    torch.manual_seed(0)
    task = BYOLTask(_backbone(), _byol())
    before = [p.detach().clone() for p in task.target.parameters()]
    assert not any(p.requires_grad for p in task.target.parameters())
    engine = _engine()
    result = engine.fit(task, task.cfg, seed=1, desc="byol")
    assert "train_acc/byol" not in result.history[0]  # BYOL predicts no labels: nothing to count
    after = list(task.target.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    # The last step's momentum is 1.0 (momentum_end): the target ends where the step before left it,
    # not on the online weights.
    online = list(byol_projection_params(task))
    assert any(not torch.allclose(a, b) for a, b in zip(after, online, strict=True))


def byol_projection_params(task: BYOLTask):
    yield from task.online.backbone.parameters()
    yield from task.online.projector.parameters()


def test_byol_after_step_follows_the_cosine_schedule(monkeypatch):
    task = BYOLTask(_backbone(), _byol())
    seen = []
    monkeypatch.setattr(byol, "update_momentum", lambda online, target, m: seen.append(m))
    for step in range(5):
        task.after_step(step, 5)
    assert seen[0] == pytest.approx(0.9) and seen[-1] == pytest.approx(1.0)
    assert seen == sorted(seen)


def test_byol_resumes_exactly_in_the_middle_of_a_run(tmp_path):
    """Killed after epoch 1 of 3, resumed: the same weights (online and target) and history as a
    run never stopped. The target is state the checkpoint must carry."""

    def run(stop_after=None, path=None):
        torch.manual_seed(0)
        task = BYOLTask(_backbone(), _byol(epochs=3))
        ckpt = Checkpointing(path, every=1, fingerprint={"t": 1}) if path else None
        result = _engine().fit(task, task.cfg, seed=1, desc="byol", checkpointing=ckpt, stop_after=stop_after)
        return task, result

    whole, whole_result = run()
    path = tmp_path / "byol.pt"
    run(stop_after=1, path=path)  # the first segment: epoch 1, then "killed"
    resumed, resumed_result = run(path=path)
    assert [r["epoch"] for r in resumed_result.history] == [1, 2, 3]
    for key in ("train_loss", "val_acc/knn"):
        assert [r[key] for r in resumed_result.history] == [r[key] for r in whole_result.history]
    for a, b in zip(whole.online.state_dict().values(), resumed.online.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(whole.target.state_dict().values(), resumed.target.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("micro", [8, "auto"])
def test_micro_batches_are_refused_before_any_step(micro):
    engine = _engine(RuntimeParams(device="cpu", eval_batch_size=64, micro_batch=micro))
    task = SimCLRTask(_backbone(), SimCLRParams(epochs=1, **SMALL))
    with pytest.raises(RotnetError, match="negatives from the whole batch.*runtime.micro_batch: null"):
        engine.fit(task, task.cfg, seed=1, desc="simclr")
    assert task.backbone.training  # never got to a step or an evaluation


def test_method_params_refuse_what_does_not_apply():
    with pytest.raises(ValueError, match="augment does not apply"):
        SimCLRParams(augment={"flip": False})
    with pytest.raises(ValueError, match="label_smoothing does not apply"):
        SimCLRParams(label_smoothing=0.1)
    with pytest.raises(ValueError, match="plateau"):
        BYOLParams(schedule={"name": "plateau", "milestones": []})
    with pytest.raises(ValueError, match="no task for method"):
        method_task("byol", _backbone(), SimCLRParams())


def _ddp_fit(rank: int, world: int, port: int, out: str, method: str) -> None:
    """One epoch of ``method`` through the engine in ``world`` gloo processes."""
    import torch.distributed as dist

    from rotnet.training.distributed import World

    dist.init_process_group("gloo", init_method=f"tcp://localhost:{port}", rank=rank, world_size=world)
    torch.manual_seed(0)
    cfg = SimCLRParams(epochs=1, **SMALL) if method == "simclr" else _byol(epochs=1)
    task = method_task(method, _backbone(), cfg)
    data = DeviceDataset.from_prepared(dataset(n_train=64, n_val=32, n_test=32), CPU)  # two steps: DDP checks the 2nd
    engine = Engine(data, RUNTIME, CPU, World(rank, world, rank))
    result = engine.fit(task, cfg, seed=1, desc=method)
    weights = {k: v.detach() for k, v in task.backbone.named_parameters()}  # BN's running stats are per process
    torch.save({"state": weights, "knn": result.outputs[KNN].test_acc}, f"{out}.{rank}")
    dist.destroy_process_group()


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_two_ddp_processes_train_one_model(tmp_path, method):
    """Under DDP every weight the loss reaches gets a gradient (the unused classifier is frozen),
    and the processes end with the same backbone weights and the same kNN figure."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_fit, args=(2, port, str(tmp_path / "fit"), method), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"fit.{r}") for r in range(2))
    assert a["knn"] == b["knn"]
    assert len(a["state"]) > 10 and all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
