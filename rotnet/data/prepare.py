"""The prepare stage's work: read a source, subset, carve validation, resize, save with metadata."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rotnet.data import cifar
from rotnet.data.imagefolder import load_imagefolder
from rotnet.data.prepared import Split, channel_stats, save_prepared
from rotnet.data.split import SourceSplits, first_per_class, stratified_split, take
from rotnet.errors import RotnetError
from rotnet.params import DatasetParams
from rotnet.progress import log

OFFICIAL_CIFAR10 = "CIFAR-10 (official)"


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 N x H x W x C images to size x size with PIL's bilinear filter."""
    n, h, w, c = images.shape
    if (h, w) == (size, size):
        return images
    out = np.empty((n, size, size, c), dtype=np.uint8)
    for i, image in enumerate(images):
        pil = Image.fromarray(image[..., 0] if c == 1 else image)
        resized = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))
        out[i] = resized[..., None] if c == 1 else resized
    return out


def _describe(name: str, basename: str) -> str:
    if name == "cifar10" and "jpeg" in basename.lower():
        return f"CIFAR-10 (JPEG copy, {basename})"
    return f"{name} (image folder {basename})"


def _read_source(name: str, cfg: DatasetParams) -> tuple[SourceSplits, dict[str, Any], str]:
    """The source's splits, its meta['source'] entry and a human description."""
    if cfg.source == "download":
        if name != "cifar10":
            raise RotnetError(
                f"no official download for dataset '{name}'; set datasets.{name}.source to imagefolder with a path"
            )
        archive = cifar.download_cifar10(Path(cfg.download_dir), name)
        source = {"kind": "download", "url": cifar.CIFAR10_URL, "path": str(archive)}
        return cifar.load_cifar_archive(archive, name), source, OFFICIAL_CIFAR10
    assert cfg.path is not None  # DatasetParams requires a path for the other sources
    path = Path(cfg.path)
    source = {"kind": cfg.source, "path": cfg.path}
    if cfg.source == "cifar-archive":
        return cifar.load_cifar_archive(path, name), source, OFFICIAL_CIFAR10
    # Resize while decoding: it is cheaper, and it is what makes folders of mixed sizes usable.
    return load_imagefolder(path, name, cfg.resize), source, _describe(name, path.name)


def _counts(labels: np.ndarray, num_classes: int) -> list[int]:
    return np.bincount(labels, minlength=num_classes).tolist()


def prepare_dataset(name: str, cfg: DatasetParams, out_dir: Path, seed: int) -> dict:
    """Prepare dataset ``name`` into ``out_dir`` (written atomically) and return the meta it wrote."""
    started = time.monotonic()
    data, source, description = _read_source(name, cfg)
    num_classes = len(data.class_names)
    train = data.train
    if cfg.train_per_class is not None:
        train = take(train, first_per_class(train.labels, cfg.train_per_class))
    try:
        train_idx, val_idx = stratified_split(train.labels, cfg.val_size, seed)
    except RotnetError as err:
        raise RotnetError(f"dataset '{name}': {err} (datasets.{name}.val_size)") from None
    splits = {"train": take(train, train_idx), "val": take(train, val_idx), "test": data.test}
    if cfg.resize is not None:
        splits = {k: Split(resize_images(s.images, cfg.resize), s.labels) for k, s in splits.items()}
    mean, std = channel_stats(splits["train"].images)
    meta: dict[str, Any] = {
        "name": name,
        "description": description,
        "source": source,
        "checksum": data.checksum,
        "counts": {k: len(s.labels) for k, s in splits.items()},
        "per_class_counts": {k: _counts(s.labels, num_classes) for k, s in splits.items()},
        "class_names": list(data.class_names),
        "image_shape": list(splits["train"].images.shape[1:]),
        "mean": mean,
        "std": std,
        "seed": seed,
        "val_size": cfg.val_size,
        "train_per_class": cfg.train_per_class,
        "resize": cfg.resize,
    }
    save_prepared(out_dir, splits, meta)
    log(f"prepared {name} in {time.monotonic() - started:.1f}s -> {out_dir}")
    return meta
