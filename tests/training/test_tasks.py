"""rotnet/training/tasks.py: what each task feeds its model, its logits and targets (what the
engine's loss reads), and which weights it keeps. Tiny NIN backbones on 16x16 images."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rotnet.models.registry import create_backbone
from rotnet.training.tasks import (
    FinetuneTask,
    JointRotationTask,
    MultitaskRotationTask,
    RotationTask,
    SupervisedTask,
    targets_of,
)

B = 6


def _nin(classes: int) -> nn.Module:
    torch.manual_seed(0)
    return create_backbone("nin", classes, options={"width": 8}).eval()


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    return torch.randn(B, 3, 16, 16), torch.arange(B) % 4


class Spy(nn.Module):
    """A model that records what a task feeds it and answers zeros for ``classes``."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.classes, self.seen = classes, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x)
        return torch.zeros(len(x), self.classes)


def test_targets_of_reads_a_shared_tensor_or_each_outputs_own():
    y = torch.tensor([1, 2])
    assert targets_of(y, "anything") is y
    assert targets_of({"a": y, "b": y + 1}, "b").tolist() == [2, 3]


def test_supervised_logits_are_the_models_and_targets_the_labels():
    model = _nin(4)
    task = SupervisedTask(model, 4)
    x, y = _batch()
    logits, targets = task.forward(x, y)
    assert list(logits) == task.outputs == task.train_outputs == ["supervised"]
    assert torch.equal(logits["supervised"], model(x)) and targets is y
    assert F.cross_entropy(logits["supervised"], targets).item() == pytest.approx(
        -torch.log_softmax(model(x), 1)[torch.arange(B), y].mean().item(), rel=1e-6
    )


def test_snapshot_and_restore_bring_back_an_outputs_weights():
    model = _nin(4)
    task = SupervisedTask(model, 4)
    x, _ = _batch()
    before = model(x)
    kept = task.snapshot("supervised")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert not torch.allclose(model(x), before)
    task.restore("supervised", kept)
    assert torch.equal(model(x), before)


def test_finetune_trains_the_fresh_classifier_at_full_rate_and_the_rest_scaled():
    model = _nin(4)
    groups = FinetuneTask(model, 4, backbone_lr_scale=0.1).param_groups()
    assert [g.lr_scale for g in groups] == [1.0, 0.1]
    assert groups[0].module is model.get_classifier() and groups[1].module is model


def test_rotation_shows_every_image_at_every_angle_with_its_label():
    spy = Spy(4)
    task = RotationTask(spy)
    x, y = _batch()
    logits, targets = task.forward(x, y)
    (fed,) = spy.seen
    assert len(fed) == 4 * B and logits["rotation"].shape == (4 * B, 4)
    assert targets.tolist() == [r for r in range(4) for _ in range(B)]  # copy-major, as fed
    for r in range(4):  # copy r is the batch turned r quarter turns (counter-clockwise)
        assert torch.equal(fed[r * B : (r + 1) * B], torch.rot90(x, r, dims=(2, 3)))


def test_rotation_with_other_angles_has_as_many_classes():
    task = RotationTask(_nin(2), angles=[0, 180])
    logits, targets = task.forward(*_batch())
    assert task.num_classes == task.classes("rotation") == 2 and logits["rotation"].shape == (2 * B, 2)
    assert targets.tolist() == [0] * B + [1] * B


def test_multitask_reads_classes_from_the_upright_copies_and_rotations_from_all():
    backbone = _nin(4)
    task = MultitaskRotationTask(backbone, 4, [0, 90, 180, 270], weight=0.5)
    task.eval()
    x, y = _batch()
    logits, targets = task.forward(x, y)
    assert task.outputs == ["supervised", "rotation"] and task.follows == {"rotation": "supervised"}
    assert task.loss_weight("rotation") == 0.5 and task.loss_weight("supervised") == 1.0
    assert task.classes("rotation") == 4 and logits["rotation"].shape == (4 * B, 4)
    assert torch.allclose(logits["supervised"], backbone(x), atol=1e-5)  # the class head on upright images
    assert targets["supervised"] is y and targets["rotation"].tolist() == [r for r in range(4) for _ in range(B)]
    with pytest.raises(ValueError, match="first angle must be 0"):
        MultitaskRotationTask(_nin(4), 4, [90, 180], weight=1.0)


def test_joint_trains_on_class_rotation_pairs_and_evaluates_by_aggregating_copies():
    classes, angles = 4, [0, 90, 180, 270]
    backbone = _nin(classes * 4)
    task = JointRotationTask(backbone, classes, angles)
    x, y = _batch()
    backbone.train()
    logits, targets = task.forward(x, y)
    assert task.train_outputs == ["joint"] and logits["joint"].shape == (4 * B, 16)
    assert targets.tolist() == [int(c) * 4 + r for r in range(4) for c in y]  # class * R + rotation
    task.eval()
    logits, targets = task.forward(x, y)
    assert targets is y and task.outputs == ["supervised", "upright"]
    joint = torch.log_softmax(backbone(torch.cat([torch.rot90(x, r, dims=(2, 3)) for r in range(4)])), 1)
    per_copy = torch.stack([joint[r * B : (r + 1) * B, r::4] for r in range(4)])  # copy r: (c, r) for each c
    assert torch.allclose(logits["upright"], per_copy[0], atol=1e-5)
    assert torch.allclose(logits["supervised"], per_copy.mean(0), atol=1e-5)
    with pytest.raises(ValueError, match="needs 4 x 4 outputs"):
        JointRotationTask(_nin(4), classes, angles)
