"""A dataset split held as one uint8 tensor on the training device (airbench style).

Batches are sliced from it by index; augmentation runs on whole batches there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from rotnet.data.augment import augment_batch
from rotnet.data.prepared import PreparedDataset, Split
from rotnet.params import AugmentParams


class DeviceSplit:
    def __init__(self, split: Split, device: torch.device) -> None:
        # (N, H, W, C) -> (N, C, H, W) once, so batches need no per-step permute.
        self.images = torch.from_numpy(split.images).to(device).permute(0, 3, 1, 2).contiguous()
        self.labels = torch.from_numpy(split.labels).to(device)
        self.device = device

    def __len__(self) -> int:
        return len(self.labels)

    def num_batches(self, batch_size: int, drop_last: bool) -> int:
        return len(self) // batch_size if drop_last else -(-len(self) // batch_size)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        augment: AugmentParams | None = None,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        shard: tuple[int, int] = (0, 1),
        augment_generator: torch.Generator | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (uint8 images, labels) batches; shuffled and augmented when asked.

        ``batch_size`` is the global batch. With ``shard=(rank, world)`` each process takes
        its disjoint 1/world of every batch; all processes must shuffle with equally seeded
        generators so that they agree on the order. Augmentation draws from
        ``augment_generator`` (default: ``generator``), which may differ per process.
        """
        rank, world = shard
        n = len(self)
        if shuffle:
            order = torch.randperm(n, device=self.device, generator=generator)
        else:
            order = torch.arange(n, device=self.device)
        for i in range(self.num_batches(batch_size, drop_last)):
            idx = order[i * batch_size : (i + 1) * batch_size][rank::world]
            x, y = self.images[idx], self.labels[idx]
            if augment is not None:
                x = augment_batch(x, augment, augment_generator or generator)
            yield x, y


@dataclass
class DeviceDataset:
    train: DeviceSplit
    val: DeviceSplit
    test: DeviceSplit
    mean: torch.Tensor  # (1, C, 1, 1), 0-255 scale
    std: torch.Tensor

    @classmethod
    def from_prepared(cls, data: PreparedDataset, device: torch.device) -> DeviceDataset:
        shape = (1, -1, 1, 1)
        return cls(
            train=DeviceSplit(data.train, device),
            val=DeviceSplit(data.val, device),
            test=DeviceSplit(data.test, device),
            mean=torch.tensor(data.mean, device=device).view(shape) * 255,
            std=torch.tensor(data.std, device=device).view(shape) * 255,
        )

    def normalize(self, x: torch.Tensor, channels_last: bool) -> torch.Tensor:
        """uint8 batch -> normalized float32 batch, in channels-last layout when asked."""
        out = (x.float() - self.mean) / self.std
        return out.contiguous(memory_format=torch.channels_last) if channels_last else out
