"""The prepared-dataset format shared by the prepare stage and every training stage.

``data/prepared/<name>/`` holds ``{train,val,test}_images.npy`` (uint8, N x H x W x C),
``{train,val,test}_labels.npy`` (int64) and ``meta.json`` (source, checksum, counts,
class names, per-channel mean/std of the train split).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rotnet.atomic import atomic_dir, write_json
from rotnet.errors import RotnetError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8, (N, H, W, C)
    labels: np.ndarray  # int64, (N,)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"labels shape {self.labels.shape} does not match {len(self.images)} images")


@dataclass(frozen=True)
class PreparedDataset:
    name: str
    train: Split
    val: Split
    test: Split
    meta: dict[str, Any]

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def num_classes(self) -> int:
        return len(self.meta["class_names"])

    @property
    def mean(self) -> list[float]:
        return list(self.meta["mean"])

    @property
    def std(self) -> list[float]:
        return list(self.meta["std"])


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std on the 0-1 scale, computed in chunks to bound memory."""
    c = images.shape[-1]
    total = np.zeros(c, dtype=np.float64)
    total_sq = np.zeros(c, dtype=np.float64)
    count = 0
    for start in range(0, len(images), 4096):
        chunk = images[start : start + 4096].reshape(-1, c).astype(np.float64) / 255.0
        total += chunk.sum(0)
        total_sq += (chunk * chunk).sum(0)
        count += len(chunk)
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 1e-12))
    return mean.tolist(), std.tolist()


def save_prepared(out_dir: str | Path, splits: dict[str, Split], meta: dict[str, Any]) -> None:
    """Write a prepared dataset atomically: a reader sees the old folder or the whole new one."""
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            np.save(tmp / f"{split}_images.npy", splits[split].images)
            np.save(tmp / f"{split}_labels.npy", splits[split].labels.astype(np.int64))
        write_json(tmp / "meta.json", meta)


def load_prepared(path: str | Path) -> PreparedDataset:
    path = Path(path)
    meta_file = path / "meta.json"
    if not meta_file.is_file():
        raise RotnetError(f"no prepared dataset at {path} (missing meta.json); run the prepare stage first")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    splits = {}
    for split in SPLITS:
        try:
            images = np.load(path / f"{split}_images.npy")
            labels = np.load(path / f"{split}_labels.npy")
        except (OSError, ValueError) as err:
            raise RotnetError(f"prepared dataset {path} is damaged ({err}); rerun the prepare stage") from None
        splits[split] = Split(images, labels)
    return PreparedDataset(name=str(meta.get("name", path.name)), meta=meta, **splits)
