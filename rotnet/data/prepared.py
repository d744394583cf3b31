"""The prepared-dataset format shared by the prepare stage and every training stage.

``data/prepared/<name>/`` holds ``{train,val,test}_images.npy`` (uint8, N x H x W x C),
``{train,val,test}_labels.npy`` (int64) and ``meta.json`` (source, checksum, counts,
class names, per-channel mean/std of the train split, and the size and sha256 of every
array file). Loading checks each file against its size and sha256, and the arrays against
the counts, so a truncated or edited array stops the stage instead of training on it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rotnet.atomic import atomic_dir, remove_stale_temps, write_json
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


def array_files() -> list[str]:
    return [f"{split}_{part}.npy" for split in SPLITS for part in ("images", "labels")]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_prepared(out_dir: str | Path, splits: dict[str, Split], meta: dict[str, Any]) -> dict[str, Any]:
    """Write a prepared dataset atomically: a reader sees the old folder or the whole new one.
    Returns the meta written: ``meta`` plus the counts and every array file's size and sha256."""
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            np.save(tmp / f"{split}_images.npy", splits[split].images)
            np.save(tmp / f"{split}_labels.npy", splits[split].labels.astype(np.int64))
        files = {name: {"bytes": (tmp / name).stat().st_size, "sha256": _sha256(tmp / name)} for name in array_files()}
        counts = {split: len(splits[split].labels) for split in SPLITS}
        meta = {**meta, "counts": counts, "files": files}
        write_json(tmp / "meta.json", meta)
    return meta


def _damaged(path: Path, problem: str) -> RotnetError:
    return RotnetError(
        f"prepared dataset {path} is damaged: {problem}. Nothing was trained on it; rerun the prepare stage "
        f"(dvc repro -f -s prepare@{path.name}, or python stages/prepare.py --dataset {path.name})"
    )


def _check_file(path: Path, name: str, expected: dict[str, Any]) -> None:
    file = path / name
    if not file.is_file():
        raise _damaged(path, f"{name} is missing")
    size = file.stat().st_size
    if size != expected["bytes"]:
        raise _damaged(path, f"{name} has {size} bytes, {expected['bytes']} when prepared (truncated or replaced)")
    if _sha256(file) != expected["sha256"]:
        raise _damaged(path, f"{name} differs from what prepare wrote (its sha256 changed)")


def load_prepared(path: str | Path) -> PreparedDataset:
    """Load and verify a prepared dataset: every array's size and sha256, and the counts."""
    path = Path(path)
    if not path.exists() and path.parent.is_dir():
        remove_stale_temps(path.parent, path.name)  # a writer killed mid-swap: put the old folder back
    meta_file = path / "meta.json"
    if not meta_file.is_file():
        raise RotnetError(f"no prepared dataset at {path} (missing meta.json); run the prepare stage first")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _damaged(path, f"meta.json is not valid JSON ({err})") from None
    files = meta.get("files") if isinstance(meta, dict) else None
    if not isinstance(files, dict) or set(files) != set(array_files()):
        raise _damaged(path, "meta.json has no size and checksum for every array (made by an older rotnet?)")
    splits = {}
    for split in SPLITS:
        for part in ("images", "labels"):
            _check_file(path, f"{split}_{part}.npy", files[f"{split}_{part}.npy"])
        try:
            images = np.load(path / f"{split}_images.npy")
            labels = np.load(path / f"{split}_labels.npy")
            splits[split] = Split(images, labels)
        except (OSError, ValueError) as err:
            raise _damaged(path, f"the {split} arrays do not load ({err})") from None
        count = meta.get("counts", {}).get(split)
        if count != len(labels):
            raise _damaged(path, f"{split} has {len(labels)} images, meta.json says {count}")
    return PreparedDataset(name=str(meta.get("name", path.name)), meta=meta, **splits)
