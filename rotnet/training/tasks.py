"""What the engine can train. A task turns an augmented, normalized batch into named
logits and their targets, and says which weights to keep for each named output."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from rotnet import rotation
from rotnet.models.base import Backbone, ClassifierHead
from rotnet.rotation import joint_class_scores
from rotnet.training.optim import ParamGroup

if TYPE_CHECKING:
    from rotnet.data.device import DeviceSplit
    from rotnet.params import TrainParams

Targets = torch.Tensor | dict[str, torch.Tensor]


def targets_of(targets: Targets, output: str) -> torch.Tensor:
    return targets[output] if isinstance(targets, dict) else targets


def copy_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of ``module``'s weights (a best-epoch snapshot)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class Task:
    """Base: one module trained as a whole, one output.

    Forward passes go through ``self.net``: the trainable module or, under DDP, its
    DistributedDataParallel wrapper (``self.run``), compiled for training steps when the
    engine compiles; weights are read from the unwrapped modules.
    """

    output: str
    num_classes: int
    # A task with its own loss on its own batches (SimCLR, BYOL: rotnet.methods.tasks): the
    # engine then takes batches(), loss() and after_step() in place of its classification
    # step, and evaluate_split() in place of its confusion matrices.
    own_loss = False

    def __init__(self, model: nn.Module) -> None:
        # Outputs evaluated and reported whose weights are not selected on their own: each
        # follows the named output's best validation epoch (an auxiliary loss's head).
        self.follows: dict[str, str] = {}
        self.model = model
        self.run: nn.Module = model
        self.compiled: Callable | None = None

    def compile(self) -> None:
        """torch.compile the module the training steps run. Only the model is compiled (the
        data work around it stays eager), so every way of feeding it shares one graph; and
        evaluation runs eager: a compiled eval would recompile for eval mode and for the
        last, partial batch, which costs more than the few steps it would save."""
        self.compiled = torch.compile(self.run)

    @property
    def net(self) -> Callable:
        return self.compiled if self.compiled is not None and self.run.training else self.run

    def trainable_module(self) -> nn.Module:
        """The module whose gradients DDP synchronises."""
        return self.model

    def wrap(self, wrapper: Callable[[nn.Module], nn.Module]) -> None:
        self.run = wrapper(self.trainable_module())

    @property
    def outputs(self) -> list[str]:
        """What evaluation reports (in eval mode ``forward`` returns these)."""
        return [self.output]

    @property
    def train_outputs(self) -> list[str]:
        """What a training step returns and sums the losses of (in train mode ``forward``)."""
        return self.outputs

    def classes(self, output: str) -> int:
        return self.num_classes

    def loss_weight(self, output: str) -> float:
        return 1.0

    def param_groups(self) -> list[ParamGroup]:
        return [ParamGroup(self.model)]

    def modules(self) -> list[nn.Module]:
        return [self.model]

    def train(self) -> None:
        self.model.train()

    def eval(self) -> None:
        self.model.eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, torch.Tensor], Targets]:
        """Named logits and their targets: one tensor shared by every output, or one per output."""
        raise NotImplementedError

    # -- the hooks of an own-loss task (own_loss); a classification task keeps these defaults --
    def batches(
        self, split: DeviceSplit, cfg: TrainParams, seed: int, epoch: int, shard: tuple[int, int]
    ) -> Iterator[Any]:
        """One epoch of training batches."""
        return split.train_batches(
            cfg.batch_size, cfg.augment, self.num_classes, seed, epoch, shard=shard, epoch_size=cfg.epoch_size
        )

    def loss(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, int]:
        """An own-loss task's loss on one whole batch, with the correct and counted predictions
        it monitors (count 0: none)."""
        raise NotImplementedError

    def check_whole_batch(self, micro_batch: int | str | None, batch_size: int, processes: int) -> None:
        """An own-loss task whose loss needs the whole batch refuses micro-batches here."""

    def after_step(self, step: int, total_steps: int) -> None:
        """After optimizer step ``step`` (0-based) of the run's ``total_steps`` (BYOL's EMA)."""

    def evaluate_split(self, engine: Any, split: DeviceSplit) -> tuple[dict[str, torch.Tensor], float] | None:
        """An own-loss task's evaluation (confusion per output, mean loss); None: the engine's."""
        return None

    def snapshot(self, output: str) -> dict[str, torch.Tensor]:
        return copy_state(self.model)

    def restore(self, output: str, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)


class SupervisedTask(Task):
    output = "supervised"

    def __init__(self, model: Backbone, num_classes: int) -> None:
        super().__init__(model)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return {self.output: self.net(x)}, y


class FinetuneTask(SupervisedTask):
    """Supervised training of a pretrained backbone under a fresh classifier."""

    output = "finetune"

    def __init__(self, model: Backbone, num_classes: int, backbone_lr_scale: float) -> None:
        super().__init__(model, num_classes)
        self.backbone_lr_scale = backbone_lr_scale

    def param_groups(self) -> list[ParamGroup]:
        # The fresh classifier learns at the full rate; the pretrained layers at the scaled one.
        return [ParamGroup(self.model.get_classifier()), ParamGroup(self.model, self.backbone_lr_scale)]


class RotationTask(Task):
    """The RotNet pretext task (rotnet.rotation): each image at every angle in the same batch.

    Augmentation has already been applied once per image, before the rotations.
    """

    output = "rotation"
    num_classes = rotation.NUM_ROTATIONS
    samples_per_image = rotation.NUM_ROTATIONS

    def __init__(self, model: nn.Module, angles: Sequence[int] = rotation.ANGLES, mask: str = "auto") -> None:
        super().__init__(model)
        self.angles = rotation.check_angles(angles)  # label i = angles[i] (pretrain.rotations)
        self.num_classes = self.samples_per_image = len(self.angles)
        self.view = rotation.InputView.of(self.angles, mask)  # pretrain.mask; the shared offset

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        rotated, labels = rotation.rotate_all(x, self.angles, self.view.mask, self.view.offset)
        return {self.output: self.net(rotated)}, labels


class WithRotationHead(nn.Module):
    """A backbone and a second head on its features that predicts the rotation: both heads
    read one pass of the backbone (same pooling and head shape as the class head)."""

    def __init__(self, backbone: Backbone, num_rotations: int) -> None:
        super().__init__()
        self.backbone = backbone
        fc = backbone.get_classifier()
        assert isinstance(fc, nn.Linear)
        self.rotation_head = ClassifierHead(nn.Linear(fc.in_features, num_rotations))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone.forward_features(x)
        return self.backbone.forward_head(features), self.rotation_head(features)


class MultitaskRotationTask(Task):
    """Supervised training with rotation prediction as an auxiliary loss (Hendrycks et al.
    2019): each batch carries every image at every angle; the class loss is on the upright
    copies, plus ``weight`` x the rotation loss on all copies. The weights kept are those of
    the best validation class accuracy; the rotation head's accuracy is reported at them."""

    def __init__(self, backbone: Backbone, num_classes: int, angles: Sequence[int], weight: float) -> None:
        self.angles = rotation.check_angles(angles)
        if self.angles[0] != 0:
            raise ValueError(f"the first angle must be 0 (the upright copy the class loss reads), got {list(angles)}")
        super().__init__(WithRotationHead(backbone, len(self.angles)))
        self.follows = {"rotation": "supervised"}
        self.backbone = backbone
        self.num_classes = num_classes
        self.samples_per_image = len(self.angles)
        self.weight = weight

    @property
    def outputs(self) -> list[str]:
        return ["supervised", "rotation"]

    def classes(self, output: str) -> int:
        return len(self.angles) if output == "rotation" else self.num_classes

    def loss_weight(self, output: str) -> float:
        return self.weight if output == "rotation" else 1.0

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, torch.Tensor], Targets]:
        rotated, turns = rotation.rotate_all(x, self.angles)
        classes, rotations = self.net(rotated)
        upright = slice(0, len(x))  # rotate_all puts every image at angles[0] = 0 first
        return {"supervised": classes[upright], "rotation": rotations}, {"supervised": y, "rotation": turns}


class JointRotationTask(Task):
    """Self-supervised label augmentation (Lee, Hwang and Shin, ICML 2020): one head over
    (class, rotation) pairs, output ``class * R + r``, trained on every image at every angle.

    Evaluation shows the model every rotated copy of an image; copy r scores class c by its
    log-probability at (c, r), and ``supervised`` averages those over the copies (the paper's
    aggregated inference); ``upright`` reads the upright copy alone. The weights kept are
    those of the best aggregated validation accuracy."""

    def __init__(self, backbone: Backbone, num_classes: int, angles: Sequence[int]) -> None:
        self.angles = rotation.check_angles(angles)
        if self.angles[0] != 0:
            raise ValueError(f"the first angle must be 0 (the upright copy), got {list(angles)}")
        super().__init__(backbone)
        self.follows = {"upright": "supervised"}
        self.num_classes = num_classes
        self.samples_per_image = len(self.angles)
        if backbone.num_classes != num_classes * len(self.angles):
            raise ValueError(
                f"the joint head needs {num_classes} x {len(self.angles)} outputs, has {backbone.num_classes}"
            )

    @property
    def outputs(self) -> list[str]:
        return ["supervised", "upright"]

    @property
    def train_outputs(self) -> list[str]:
        return ["joint"]

    def classes(self, output: str) -> int:
        return self.num_classes * len(self.angles) if output == "joint" else self.num_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, torch.Tensor], Targets]:
        rotated, turns = rotation.rotate_all(x, self.angles)
        logits = self.net(rotated)
        if self.model.training:
            return {"joint": logits}, y.repeat(len(self.angles)) * len(self.angles) + turns
        per_copy = joint_class_scores(logits, len(x), self.num_classes, len(self.angles))
        return {"supervised": per_copy.mean(0), "upright": per_copy[0]}, y
