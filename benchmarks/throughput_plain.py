"""The throughput benchmark's plain side: the engine's step fed the usual way, a PIL-image
Dataset with torchvision transforms and a DataLoader with worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from benchmarks.throughput_rig import WORKLOADS, Rig, record, tile, timed_repeats
from rotnet.data.device import Batch
from rotnet.data.prepared import channel_stats


class PilDataset(Dataset):
    """The torchvision-CIFAR10 way: one PIL image per item, transformed in a worker."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean: list[float], std: list[float], rotate: bool):
        self.images, self.labels, self.rotate = images, labels, rotate
        self.transform = transforms.Compose(
            [
                transforms.RandomCrop(32, padding=4),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize(mean, std),
            ]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = self.transform(Image.fromarray(self.images[i]))
        if self.rotate:  # the official RotNet loader: four rotated copies per image
            return torch.stack([torch.rot90(x, k, (1, 2)) for k in range(4)]), torch.arange(4)
        return x, int(self.labels[i])


def plain_side(
    rig: Rig,
    key: str,
    images: np.ndarray,
    labels: np.ndarray,
    steps: int,
    repeats: int,
    workers: int,
    warmup: int | None = None,
) -> dict[str, Any]:
    """The engine's step fed by a PIL Dataset and a DataLoader with ``workers`` processes."""
    rotate = WORKLOADS[key][4]
    batch, device = rig.cfg.batch_size, rig.engine.device
    warmup = steps if warmup is None else warmup
    n = (warmup + repeats * steps) * batch  # one pass of the loader: no epoch restarts inside a timed run
    mean, std = channel_stats(images)
    loader = DataLoader(
        PilDataset(tile(images, n), tile(labels, n), mean, std, rotate),
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    layout = torch.channels_last if rig.engine.runtime.channels_last else torch.contiguous_format

    def batches() -> Iterator[Batch]:
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if rotate:
                x, y = x.flatten(0, 1), y.flatten()
            yield Batch(x.contiguous(memory_format=layout), y)  # the layout the engine's batches have

    return record(timed_repeats(rig.step(), batches(), batch, steps, repeats, warmup, device), steps, warmup)
