"""The dataset on the training device, and the batches that come out of it ready to train on.

Each split is one uint8 tensor on the device (airbench style). A batch is sliced from it
by index, augmented there as a whole (random per sample), normalised, optionally laid out
channels-last, and CutMixed with its soft targets attached: no per-image Python.

Randomness is drawn per epoch from seeds derived from (seed, epoch, process), so a
resumed run redraws exactly what an uninterrupted one would, with no generator state to
save. The batch order is the same on every process (they must agree on it); the
augmentation differs per process, since each augments its own share of the batch.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from rotnet.data.augment import augment_batch, cutmix
from rotnet.data.prepared import PreparedDataset, Split
from rotnet.data.views import ViewParams, two_views
from rotnet.params import AugmentParams


@dataclass
class ViewBatch:
    """Two augmented views of each image (SimCLR, BYOL); the labels only for monitoring."""

    views: tuple[torch.Tensor, torch.Tensor]
    y: torch.Tensor


@dataclass
class Batch:
    x: torch.Tensor  # normalised float images (B, C, H, W)
    y: torch.Tensor  # class labels (B,)
    mixed: torch.Tensor | None = None  # CutMix soft targets (B, classes), when the batch was mixed

    @property
    def targets(self) -> torch.Tensor:
        """What the loss compares against: the soft targets of a mixed batch, else the labels."""
        return self.y if self.mixed is None else self.mixed


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """Seeds derived from (seed, epoch, stream): stream 0 orders the batches, 1 + rank augments."""
    return (seed * 1_000_003 + epoch * 10_007 + stream) % 2**63


def _generator(device: torch.device, seed: int) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


class DeviceSplit:
    def __init__(
        self, split: Split, device: torch.device, mean: torch.Tensor, std: torch.Tensor, channels_last: bool
    ) -> None:
        # (N, H, W, C) -> (N, C, H, W) once, so batches need no per-step permute.
        self.images = torch.from_numpy(split.images).to(device).permute(0, 3, 1, 2).contiguous()
        self.labels = torch.from_numpy(split.labels).to(device)
        self.device = device
        self.mean, self.std, self.channels_last = mean, std, channels_last

    def __len__(self) -> int:
        return len(self.labels)

    def num_batches(self, batch_size: int, drop_last: bool) -> int:
        return len(self) // batch_size if drop_last else -(-len(self) // batch_size)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 batch -> normalised float32 batch, channels-last when asked."""
        out = (x.float() - self.mean) / self.std
        return out.contiguous(memory_format=torch.channels_last) if self.channels_last else out

    def _order(self, seed: int, epoch: int, epoch_size: int | None) -> torch.Tensor:
        gen = _generator(self.device, epoch_seed(seed, epoch, 0))
        order = torch.randperm(len(self), device=self.device, generator=gen)
        if epoch_size is None:
            return order
        # Further permutations from the same stream: the first is the one-pass order.
        parts = [order]
        while sum(len(p) for p in parts) < epoch_size:
            parts.append(torch.randperm(len(self), device=self.device, generator=gen))
        return torch.cat(parts)[:epoch_size]

    def epoch_steps(self, batch_size: int, epoch_size: int | None) -> int:
        """Full batches per epoch."""
        return (len(self) if epoch_size is None else epoch_size) // batch_size

    def _indices(
        self, batch_size: int, order: torch.Tensor, drop_last: bool, shard: tuple[int, int]
    ) -> Iterator[torch.Tensor]:
        rank, world = shard
        count = len(order) // batch_size if drop_last else -(-len(order) // batch_size)
        for i in range(count):
            yield order[i * batch_size : (i + 1) * batch_size][rank::world]

    def train_batches(
        self,
        batch_size: int,
        augment: AugmentParams,
        num_classes: int,
        seed: int,
        epoch: int,
        shard: tuple[int, int] = (0, 1),
        epoch_size: int | None = None,
    ) -> Iterator[Batch]:
        """One epoch of shuffled, augmented, normalised batches (full batches only).

        ``batch_size`` is the global batch; with ``shard=(rank, world)`` each process takes
        its disjoint 1/world of every batch. ``epoch_size`` source images per epoch (default:
        one pass) cycle through seeded permutations, so a labelled set smaller than a batch
        still trains.
        """
        rank = shard[0]
        order = self._order(seed, epoch, epoch_size)
        aug_gen = _generator(self.device, epoch_seed(seed, epoch, 1 + rank))
        mix_rng = random.Random(epoch_seed(seed, epoch, 1 + rank))  # CutMix or not, per batch
        for idx in self._indices(batch_size, order, True, shard):
            x = self.normalize(augment_batch(self.images[idx], augment, aug_gen))
            y = self.labels[idx]
            mixed = None
            if augment.cutmix_prob > 0 and mix_rng.random() < augment.cutmix_prob:
                x, mixed = cutmix(x, y, num_classes, augment.cutmix_alpha, aug_gen)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
            yield Batch(x, y, mixed)

    def view_batches(
        self,
        batch_size: int,
        views: tuple[ViewParams, ViewParams],
        seed: int,
        epoch: int,
        shard: tuple[int, int] = (0, 1),
        epoch_size: int | None = None,
    ) -> Iterator[ViewBatch]:
        """One epoch of two-view batches (full batches only), in train_batches' order and from
        the same per-epoch seeds: a resumed run redraws exactly the same views. ``epoch_size``
        as train_batches'."""
        rank = shard[0]
        order = self._order(seed, epoch, epoch_size)
        gen = _generator(self.device, epoch_seed(seed, epoch, 1 + rank))
        mean, std = self.mean.view(-1) / 255, self.std.view(-1) / 255  # views.two_views works on [0, 1] levels
        for idx in self._indices(batch_size, order, True, shard):
            v0, v1 = two_views(self.images[idx], views, mean, std, gen, self.channels_last)
            yield ViewBatch((v0, v1), self.labels[idx])

    def eval_batches(self, batch_size: int, shard: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
        """The whole split in order, normalised, no augmentation; each process takes its share."""
        order = torch.arange(len(self), device=self.device)
        for idx in self._indices(batch_size, order, False, shard):
            yield Batch(self.normalize(self.images[idx]), self.labels[idx])


@dataclass
class DeviceDataset:
    train: DeviceSplit
    val: DeviceSplit
    test: DeviceSplit

    @classmethod
    def from_prepared(cls, data: PreparedDataset, device: torch.device, channels_last: bool = False) -> DeviceDataset:
        shape = (1, -1, 1, 1)
        mean = torch.tensor(data.mean, device=device).view(shape) * 255
        std = torch.tensor(data.std, device=device).view(shape) * 255
        return cls(*(DeviceSplit(getattr(data, s), device, mean, std, channels_last) for s in ("train", "val", "test")))
