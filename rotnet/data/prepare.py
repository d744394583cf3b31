"""The prepare stage's work: read a source, subset, split, convert channels, resize, pad, save with metadata."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from rotnet.data import cifar, fashion
from rotnet.data.archives import TreeLimits
from rotnet.data.imagefolder import load_imagefolder
from rotnet.data.prepared import Split, channel_stats, save_prepared
from rotnet.data.split import SourceSplits, first_per_class, stratified_split, take
from rotnet.errors import RotnetError
from rotnet.params import DatasetParams
from rotnet.progress import log, progress

OFFICIAL_CIFAR10 = "CIFAR-10 (official)"
SKIPPED_EXAMPLES = 10  # skipped files listed by name in meta
# PIL's 'L' conversion (ITU-R 601-2 luma) in its own fixed point: L = (R*19595 + G*38470 + B*7471
# + 0x8000) >> 16, so arrays convert exactly as image files do.
LUMA_WEIGHTS = (19595, 38470, 7471)


class Source(NamedTuple):
    data: SourceSplits
    entry: dict[str, Any]  # meta['source']
    description: str


def _download_cifar10(name: str, cfg: DatasetParams) -> Source:
    archive = cifar.download_cifar10(Path(cfg.download_dir), name)
    entry = {"kind": "download", "url": cifar.CIFAR10_URL, "path": str(archive)}
    return Source(cifar.load_cifar_archive(archive, name), entry, OFFICIAL_CIFAR10)


def _download_fashion_mnist(name: str, cfg: DatasetParams) -> Source:
    folder = fashion.download_fashion_mnist(Path(cfg.download_dir), name)
    entry = {"kind": "download", "url": fashion.FASHION_MIRROR, "path": str(folder)}
    return Source(fashion.load_idx_folder(folder, name), entry, fashion.DESCRIPTION)


# Datasets with an official download (source: download): adding one is one entry.
OFFICIAL_DOWNLOADS: dict[str, Callable[[str, DatasetParams], Source]] = {
    "cifar10": _download_cifar10,
    "fashion_mnist": _download_fashion_mnist,
}


def to_channels(images: np.ndarray, channels: int | None) -> np.ndarray:
    """N x H x W x C uint8 images as 1 (gray, PIL's formula) or 3 (gray replicated) channels; None keeps."""
    c = images.shape[-1]
    if channels is None or c == channels:
        return images
    if channels == 3:
        if c != 1:
            raise ValueError(f"cannot convert {c}-channel images to RGB")
        return np.repeat(images, 3, axis=-1)
    if c != 3:
        raise ValueError(f"cannot convert {c}-channel images to gray")
    out = np.empty((*images.shape[:-1], 1), dtype=np.uint8)
    weights = np.asarray(LUMA_WEIGHTS, dtype=np.uint32)
    for start in range(0, len(images), 4096):  # chunks bound the uint32 temporary
        chunk = images[start : start + 4096].astype(np.uint32)
        out[start : start + 4096, ..., 0] = ((chunk @ weights + 0x8000) >> 16).astype(np.uint8)
    return out


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 N x H x W x C images to size x size with PIL's bilinear filter."""
    n, h, w, c = images.shape
    if (h, w) == (size, size):
        return images
    out = np.empty((n, size, size, c), dtype=np.uint8)
    for i, image in progress(enumerate(images), total=n, desc="resizing images"):
        pil = Image.fromarray(image[..., 0] if c == 1 else image)
        resized = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))
        out[i] = resized[..., None] if c == 1 else resized
    return out


def pad_images(images: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad N x H x W x C images to size x size, centred; an odd remainder goes bottom/right."""
    n, h, w, c = images.shape
    if h > size or w > size:
        raise ValueError(f"{w}x{h} images do not fit in {size}x{size}")
    top, left = (size - h) // 2, (size - w) // 2
    out = np.zeros((n, size, size, c), dtype=np.uint8)
    out[:, top : top + h, left : left + w] = images
    return out


def _shape(images: np.ndarray, cfg: DatasetParams) -> np.ndarray:
    # Gray before resizing and RGB after it: both resize as few channels as possible, and
    # resizing replicated channels gives the same result as replicating resized ones.
    if cfg.channels == 1:
        images = to_channels(images, 1)
    if cfg.resize is not None:
        images = resize_images(images, cfg.resize)
    if cfg.channels == 3:
        images = to_channels(images, 3)
    if cfg.pad_to is not None:
        images = pad_images(images, cfg.pad_to)
    return images


def _check_final_size(name: str, cfg: DatasetParams, height: int, width: int) -> None:
    """Refuse, before splitting, resizing and saving, sizes that padding cannot fit or that end up not square."""
    if cfg.resize is not None:
        return  # resize makes them square, and params already require pad_to >= resize
    if cfg.pad_to is not None:
        if height > cfg.pad_to or width > cfg.pad_to:
            raise RotnetError(
                f"dataset '{name}': images are {width}x{height}, larger than datasets.{name}.pad_to "
                f"({cfg.pad_to}); raise pad_to, or set datasets.{name}.resize to shrink them first"
            )
        return
    if height != width:
        raise RotnetError(
            f"dataset '{name}': images are {width}x{height} (width x height), but the rotation task needs "
            f"square images; set datasets.{name}.resize to resize them, or datasets.{name}.pad_to to pad "
            "them to a square"
        )


def _describe(name: str, basename: str) -> str:
    if name == "cifar10" and "jpeg" in basename.lower():
        return f"CIFAR-10 (JPEG copy, {basename})"
    return f"{name} (image folder {basename})"


def _read_source(name: str, cfg: DatasetParams) -> Source:
    """The source's splits, its meta['source'] entry and a human description."""
    if cfg.source == "download":
        if name not in OFFICIAL_DOWNLOADS:
            raise RotnetError(
                f"no official download for dataset '{name}' (official downloads: {', '.join(OFFICIAL_DOWNLOADS)}); "
                f"set datasets.{name}.source to imagefolder with a path"
            )
        return OFFICIAL_DOWNLOADS[name](name, cfg)
    assert cfg.path is not None  # DatasetParams requires a path for the other sources
    path = Path(cfg.path)
    entry = {"kind": cfg.source, "path": cfg.path}
    if cfg.source == "cifar-archive":
        return Source(cifar.load_cifar_archive(path, name), entry, OFFICIAL_CIFAR10)
    if cfg.source == "idx":
        return Source(fashion.load_idx_folder(path, name), entry, fashion.DESCRIPTION)
    # Resize and convert while decoding: it is cheaper, and it is what makes folders of mixed sizes usable.
    data = load_imagefolder(
        path,
        name,
        cfg.resize,
        channels=cfg.channels,
        skip_unreadable=cfg.skip_unreadable,
        limits=TreeLimits(cfg.max_files, cfg.max_total_mb, f"datasets.{name}"),
    )
    return Source(data, entry, _describe(name, path.name))


def _counts(labels: np.ndarray, num_classes: int) -> list[int]:
    return np.bincount(labels, minlength=num_classes).tolist()


def prepare_dataset(name: str, cfg: DatasetParams, out_dir: Path, seed: int) -> dict:
    """Prepare dataset ``name`` into ``out_dir`` (written atomically) and return the meta it wrote."""
    started = time.monotonic()
    data, source, description = _read_source(name, cfg)
    _check_final_size(name, cfg, *data.train.images.shape[1:3])  # every split has the train size
    num_classes = len(data.class_names)
    train = data.train
    if cfg.train_per_class is not None:
        train = take(train, first_per_class(train.labels, cfg.train_per_class))
    if data.val is not None:  # the source's own validation split (an image folder's val/)
        splits = {"train": train, "val": data.val, "test": data.test}
        val_source = "folder"
    else:
        try:
            train_idx, val_idx = stratified_split(train.labels, cfg.val_size, seed)
        except RotnetError as err:
            raise RotnetError(f"dataset '{name}': {err} (datasets.{name}.val_size)") from None
        splits = {"train": take(train, train_idx), "val": take(train, val_idx), "test": data.test}
        val_source = "carved"
    splits = {k: Split(_shape(s.images, cfg), s.labels) for k, s in splits.items()}
    image_shape = list(splits["train"].images.shape[1:])
    mean, std = channel_stats(splits["train"].images)
    meta: dict[str, Any] = {
        "name": name,
        "description": description,
        "source": source,
        "checksum": data.checksum,
        "counts": {k: len(s.labels) for k, s in splits.items()},
        "per_class_counts": {k: _counts(s.labels, num_classes) for k, s in splits.items()},
        "class_names": list(data.class_names),
        "image_shape": image_shape,
        # Height and width before any padding: inference resizes new images to this.
        "content_size": [cfg.resize] * 2 if cfg.resize else list(train.images.shape[1:3]),
        "mean": mean,
        "std": std,
        "seed": seed,
        "val_source": val_source,
        "val_size": cfg.val_size if val_source == "carved" else None,  # unused with a val/ folder
        "train_per_class": cfg.train_per_class,
        "resize": cfg.resize,
        "pad_to": cfg.pad_to,
        "channels": image_shape[-1],  # the result: cfg.channels when set, else the source's
        "skipped": {"count": len(data.skipped), "examples": data.skipped[:SKIPPED_EXAMPLES]},
    }
    save_prepared(out_dir, splits, meta)
    log(f"prepared {name} in {time.monotonic() - started:.1f}s -> {out_dir}")
    return meta
