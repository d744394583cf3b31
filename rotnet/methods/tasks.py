"""SimCLR and BYOL as tasks the engine trains (rotnet.training.tasks: an own-loss task).

Each trains a backbone through its pooled last feature map (what a classifier head would
read) and the method's heads (rotnet.methods.heads), on two views of every image made on the
device (rotnet.data.views, the method's recipe). The backbone alone is what the stage saves
and what the probes read. Validation is lightly's kNN monitor: the pooled features of the
validation images against those of the training images (the memory bank), k and T from the
params; the engine keeps the best validation epoch's weights, and its single test look is
the same kNN at those weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rotnet.data.device import DeviceSplit, ViewBatch
from rotnet.data.views import ViewParams
from rotnet.methods import byol
from rotnet.methods.heads import HeadSize, MLPHead
from rotnet.methods.ntxent import nt_xent
from rotnet.methods.recipes import BYOL, SIMCLR
from rotnet.methods.whole_batch import refuse_micro_batches
from rotnet.models.base import Backbone
from rotnet.params import BYOLParams, MethodParams, SimCLRParams, TrainParams
from rotnet.probing.knn import knn_predict
from rotnet.training.optim import ParamGroup
from rotnet.training.runtime import autocast
from rotnet.training.tasks import Task, copy_state

KNN = "knn"  # the one evaluated output: the kNN monitor's accuracy over the dataset's classes


def pooled(backbone: Backbone, x: torch.Tensor) -> torch.Tensor:
    """The backbone's last map, global-average-pooled: (B, C), what the method's heads read."""
    return torch.flatten(F.adaptive_avg_pool2d(backbone.forward_features(x), 1), 1)


class Online(nn.Module):
    """The trained network: backbone, projector and (BYOL) predictor. Its forward returns the
    projections and, with a predictor, the predictions: one module for DDP to wrap."""

    def __init__(self, backbone: Backbone, projector: nn.Module, predictor: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone, self.projector, self.predictor = backbone, projector, predictor

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = self.projector(pooled(self.backbone, x))
        return z, (self.predictor(z) if self.predictor is not None else None)


class Projection(nn.Module):
    """BYOL's target: backbone and projector (no predictor), moved only by the EMA."""

    def __init__(self, backbone: Backbone, projector: nn.Module) -> None:
        super().__init__()
        self.backbone, self.projector = backbone, projector

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(pooled(self.backbone, x))


def _width(backbone: Backbone) -> int:
    return backbone.feature_info[-1].channels


@torch.no_grad()
def pooled_split(backbone: Backbone, split: DeviceSplit, batch_size: int, amp: bool) -> torch.Tensor:
    """Pooled last-map features of a whole split, in order, backbone in eval mode."""
    parts = []
    for batch in split.eval_batches(batch_size):
        with autocast(split.device, amp):
            parts.append(pooled(backbone, batch.x).float())
    return torch.cat(parts)


class MethodTask(Task):
    """What SimCLR and BYOL share: two-view batches, one whole-batch loss, the kNN monitor."""

    output: str
    own_loss = True

    def __init__(
        self, backbone: Backbone, online: Online, cfg: MethodParams, views: tuple[ViewParams, ViewParams]
    ) -> None:
        super().__init__(online)
        self.backbone, self.online, self.cfg, self.views = backbone, online, cfg, views
        self.num_classes = backbone.num_classes
        # The backbone's classifier is not on the method's path (its heads read the pooled map):
        # frozen, so DDP does not wait for gradients it never gets and nothing decays it.
        for p in backbone.get_classifier().parameters():
            p.requires_grad_(False)

    @property
    def outputs(self) -> list[str]:
        return [KNN]

    @property
    def train_outputs(self) -> list[str]:
        return [self.output]

    def param_groups(self) -> list[ParamGroup]:
        return [ParamGroup(self.online)]

    def snapshot(self, output: str) -> dict[str, torch.Tensor]:
        return copy_state(self.online)

    def restore(self, output: str, state: dict[str, torch.Tensor]) -> None:
        self.online.load_state_dict(state)

    def batches(
        self, split: DeviceSplit, cfg: TrainParams, seed: int, epoch: int, shard: tuple[int, int]
    ) -> Iterator[ViewBatch]:
        return split.view_batches(cfg.batch_size, self.views, seed, epoch, shard=shard, epoch_size=cfg.epoch_size)

    def check_whole_batch(self, micro_batch: int | str | None, batch_size: int, processes: int) -> None:
        refuse_micro_batches(self.output, micro_batch, batch_size, processes)  # type: ignore[arg-type]

    def evaluate_split(self, engine: Any, split: DeviceSplit) -> tuple[dict[str, torch.Tensor], float]:
        """kNN accuracy of ``split`` against the training split as the memory bank. Every
        process computes it whole (a pass over the training images), so all agree with no
        exchange. No loss: the mean loss is NaN (a plateau schedule is refused for methods)."""
        was = self.backbone.training
        self.backbone.eval()
        try:
            size, amp = engine.runtime.eval_batch_size, engine.runtime.amp
            bank = pooled_split(self.backbone, engine.data.train, size, amp)
            queries = pooled_split(self.backbone, split, size, amp)
        finally:
            self.backbone.train(was)
        k = self.num_classes
        pred = knn_predict(bank, engine.data.train.labels, queries, self.cfg.knn_k, self.cfg.knn_temperature, k)
        conf = torch.bincount(split.labels.long() * k + pred, minlength=k * k).view(k, k)
        return {KNN: conf.cpu()}, float("nan")


class SimCLRTask(MethodTask):
    """NT-Xent over the two views' projections (negatives: the whole batch, every process's)."""

    output = "simclr"

    def __init__(self, backbone: Backbone, cfg: SimCLRParams) -> None:
        size = HeadSize(hidden=cfg.projector_hidden, out=cfg.projector_out, out_norm=True)
        super().__init__(backbone, Online(backbone, MLPHead(_width(backbone), size)), cfg, SIMCLR.views)
        self.temperature = cfg.temperature

    def loss(self, batch: ViewBatch) -> tuple[torch.Tensor, torch.Tensor, int]:
        n = len(batch.y)
        z, _ = self.net(torch.cat(batch.views))  # one pass: BatchNorm sees both views, as lightly's
        z0, z1 = z.float().split(n)
        loss = nt_xent(z0, z1, self.temperature)
        with torch.no_grad():  # monitored: how often a view's nearest projection is its positive
            a, b = F.normalize(z0, dim=1), F.normalize(z1, dim=1)
            correct = ((a @ b.T).argmax(1) == torch.arange(n, device=a.device)).sum()
        return loss, correct, n


class BYOLTask(MethodTask):
    """Each view's online prediction against the target's projection of the other view; the
    target follows the online network by EMA after every step (momentum on BYOL's cosine)."""

    output = "byol"

    def __init__(self, backbone: Backbone, cfg: BYOLParams) -> None:
        width = _width(backbone)
        projector = MLPHead(width, HeadSize(hidden=cfg.projector_hidden, out=cfg.projector_out, out_norm=False))
        predictor = MLPHead(
            cfg.projector_out, HeadSize(hidden=cfg.predictor_hidden, out=cfg.projector_out, out_norm=False)
        )
        super().__init__(backbone, Online(backbone, projector, predictor), cfg, BYOL.views)
        self.target = byol.make_target(Projection(backbone, projector))
        self.momentum = (cfg.momentum_start, cfg.momentum_end)

    def modules(self) -> list[nn.Module]:
        return [self.online, self.target]  # the target is state too: a resumed run restores it

    def train(self) -> None:
        self.online.train()
        self.target.train()  # batch statistics in the target's BatchNorm too, as lightly's

    def loss(self, batch: ViewBatch) -> tuple[torch.Tensor, torch.Tensor, int]:
        n = len(batch.y)
        both = torch.cat(batch.views)
        _, p = self.net(both)
        assert p is not None
        with torch.no_grad():
            z = self.target(both)
        p0, p1 = p.float().split(n)
        z0, z1 = z.float().split(n)
        return byol.byol_loss(p0, p1, z0, z1), p.new_zeros((), dtype=torch.long), 0

    def after_step(self, step: int, total_steps: int) -> None:
        m = byol.cosine_momentum(step, total_steps, *self.momentum)
        byol.update_momentum(Projection(self.online.backbone, self.online.projector), self.target, m)


def method_task(method: str, backbone: Backbone, cfg: MethodParams) -> MethodTask:
    """The task of study.methods entry ``method`` with its params section ``cfg``."""
    if method == "simclr" and isinstance(cfg, SimCLRParams):
        return SimCLRTask(backbone, cfg)
    if method == "byol" and isinstance(cfg, BYOLParams):
        return BYOLTask(backbone, cfg)
    raise ValueError(f"no task for method {method!r} with {type(cfg).__name__}")
