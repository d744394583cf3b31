"""Rotations as extra supervision: the multitask and joint (SLA) tasks through the engine."""

import math

import pytest
import torch
import torch.nn.functional as F

from rotnet.data.device import DeviceDataset
from rotnet.models.registry import create_backbone
from rotnet.params import RuntimeParams, ScheduleParams, TrainParams
from rotnet.rotation import joint_class_scores, rotate_all
from rotnet.training.engine import Engine
from rotnet.training.tasks import JointRotationTask, MultitaskRotationTask
from tests.synthetic import dataset

CPU = torch.device("cpu")
ANGLES = [0, 90, 180, 270]


def _engine() -> Engine:
    return Engine(DeviceDataset.from_prepared(dataset(), CPU), RuntimeParams(device="cpu", eval_batch_size=64), CPU)


def _cfg(epochs: int = 3) -> TrainParams:
    return TrainParams(epochs=epochs, batch_size=16, schedule=ScheduleParams(milestones=[]), optimizer={"lr": 0.05})


def test_multitask_loss_is_the_class_loss_on_upright_copies_plus_weight_times_the_rotation_loss():
    torch.manual_seed(0)
    model = create_backbone("nin", 4, options={"width": 8, "blocks": 3}).eval()
    task = MultitaskRotationTask(model, 4, ANGLES, weight=0.5)
    task.eval()
    x, y = torch.randn(3, 3, 16, 16), torch.tensor([0, 3, 1])
    logits, targets = task.forward(x, y)
    assert logits["supervised"].shape == (3, 4) and logits["rotation"].shape == (12, 4)
    # The class logits are those of the upright copies, through the backbone's own head.
    torch.testing.assert_close(logits["supervised"], model(x))
    assert targets["rotation"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    engine = _engine()
    batch = type("B", (), {"x": x, "y": y, "mixed": None})()
    loss, per_output = engine._step(task, batch, _cfg(), None)
    expected = F.cross_entropy(logits["supervised"], y) + 0.5 * F.cross_entropy(logits["rotation"], targets["rotation"])
    assert float(loss) == pytest.approx(float(expected.detach()), rel=1e-5)
    assert per_output[2].tolist() == [3, 12]  # targets per output: upright copies, all copies


def test_multitask_learns_both_and_keeps_the_class_accuracy_best_epoch():
    torch.manual_seed(0)
    engine = _engine()
    task = MultitaskRotationTask(create_backbone("nin", 4, options={"width": 16}), 4, ANGLES, weight=1.0)
    result = engine.fit(task, _cfg(4), seed=1, desc="mt")
    sup, rot = result.outputs["supervised"], result.outputs["rotation"]
    assert sup.val_acc > 50 and rot.val_acc > 35  # chance: 25% for both
    # The rotation head is reported at the epoch the class accuracy chose, not its own best.
    assert rot.best_epoch == sup.best_epoch
    assert rot.val_acc == result.history[sup.best_epoch - 1]["val_acc/rotation"]
    row = result.history[-1]
    assert {"train_loss/supervised", "train_loss/rotation", "train_acc/rotation"} <= set(row)
    assert row["train_loss"] == pytest.approx((row["train_loss/supervised"] + row["train_loss/rotation"]) / 2)


def test_joint_aggregation_reads_each_copys_own_rotation_entries():
    """Copy r scores class c at output c * R + r; a logit planted at any other rotation's
    entry must not count."""
    images, classes, rotations = 2, 3, 4
    logits = torch.zeros(rotations * images, classes * rotations)
    # Image 0: every copy puts a large logit on (class 2, its own rotation): class 2 wins.
    for r in range(rotations):
        logits[r * images + 0, 2 * rotations + r] = 5.0
    # Image 1: every copy puts it on (class 1, a WRONG rotation), and a small one on (class 0, its own).
    for r in range(rotations):
        logits[r * images + 1, 1 * rotations + (r + 1) % rotations] = 9.0
        logits[r * images + 1, 0 * rotations + r] = 1.0
    scores = joint_class_scores(logits, images, classes, rotations)
    assert scores.shape == (rotations, images, classes)
    assert scores.mean(0).argmax(1).tolist() == [2, 0]
    # The scores are log-probabilities of the whole joint softmax.
    full = torch.log_softmax(logits, 1)
    assert scores[3, 1, 0] == pytest.approx(float(full[3 * images + 1, 0 * rotations + 3]))


def test_joint_trains_on_class_rotation_pairs_and_reports_aggregated_and_upright():
    torch.manual_seed(0)
    engine = _engine()
    model = create_backbone("nin", 16, options={"width": 16})
    task = JointRotationTask(model, 4, ANGLES)
    x, y = engine.data.train.normalize(engine.data.train.images[:2]), torch.tensor([1, 3])
    task.train()
    logits, targets = task.forward(x, y)
    assert logits["joint"].shape == (8, 16) and targets.tolist() == [4, 12, 5, 13, 6, 14, 7, 15]
    task.eval()
    with torch.no_grad():
        evaluated, _ = task.forward(x, y)
        rotated, _ = rotate_all(x, ANGLES)
        logp = torch.log_softmax(model(rotated), 1).view(4, 2, 4, 4)
    manual = torch.stack([logp[r, :, :, r] for r in range(4)]).mean(0)
    torch.testing.assert_close(evaluated["supervised"], manual)
    torch.testing.assert_close(evaluated["upright"], logp[0, :, :, 0])
    result = engine.fit(task, _cfg(4), seed=1, desc="joint")
    agg, upright = result.outputs["supervised"], result.outputs["upright"]
    assert agg.val_acc > 50 and upright.best_epoch == agg.best_epoch
    assert {"train_acc/joint", "val_acc/supervised", "val_acc/upright"} <= set(result.history[-1])
    assert math.isfinite(result.history[-1]["val_loss"])


def test_tasks_refuse_a_set_without_the_upright_copy_and_a_wrong_head():
    model = create_backbone("nin", 4, options={"width": 8, "blocks": 3})
    with pytest.raises(ValueError, match="first angle must be 0"):
        MultitaskRotationTask(model, 4, [90, 180], 1.0)
    with pytest.raises(ValueError, match="4 x 4 outputs"):
        JointRotationTask(model, 4, ANGLES)


def test_a_killed_multitask_run_resumes_exactly(tmp_path):
    from rotnet.training.engine import Checkpointing

    class Killed(Exception):
        pass

    def fit(path, stop_at=None):
        torch.manual_seed(0)
        task = MultitaskRotationTask(create_backbone("nin", 4, options={"width": 8}), 4, ANGLES, weight=0.5)

        def hook(row):
            if row["epoch"] == stop_at:
                raise Killed

        return _engine().fit(task, _cfg(3), 1, "mt", hook, Checkpointing(path, 1, {"params": "a"}))

    whole = fit(tmp_path / "a.pt")
    with pytest.raises(Killed):
        fit(tmp_path / "b.pt", stop_at=2)
    resumed = fit(tmp_path / "b.pt")
    assert [r["train_loss/rotation"] for r in resumed.history] == [r["train_loss/rotation"] for r in whole.history]
    for out in ("supervised", "rotation"):
        assert resumed.outputs[out].test_confusion == whole.outputs[out].test_confusion


@pytest.mark.parametrize(
    ("name", "options"),
    [("nin", {"width": 8}), ("resnet50", {"width": 4}), ("efficientnet_b0", {"width_multiplier": 0.25})],
)
def test_both_modes_build_on_every_family(name, options):
    """The rotation head reads the backbone's pooled features through the model contract, and
    the joint head is the backbone's own classifier: one step of each works for every family."""
    torch.manual_seed(0)
    x, y = torch.randn(2, 3, 16, 16), torch.tensor([0, 2])
    multitask = MultitaskRotationTask(create_backbone(name, 3, options=options), 3, ANGLES, 1.0)
    joint = JointRotationTask(create_backbone(name, 12, options=options), 3, ANGLES)
    for task in (multitask, joint):
        task.train()
        logits, targets = task.forward(x, y)
        loss = sum(
            F.cross_entropy(lg, targets[o] if isinstance(targets, dict) else targets) for o, lg in logits.items()
        )
        loss.backward()
        assert all(p.grad is not None for p in task.model.parameters() if p.requires_grad)
