"""The prepare stage's pieces: read a source, convert channels, resize and pad (rotnet.stages.prepare runs them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rotnet.data import cifar, fashion
from rotnet.data.archives import TreeLimits
from rotnet.data.imagefolder import load_imagefolder
from rotnet.data.shape import pad_images, resize_images, to_channels
from rotnet.data.split import SourceSplits
from rotnet.errors import RotnetError
from rotnet.params import DatasetParams

OFFICIAL_CIFAR10 = "CIFAR-10 (official)"
CIFAR10_ORDER = "the official order (data_batch_1 to data_batch_5)"
FOLDER_ORDER = "file paths sorted within each class folder (code-point order)"
DEFAULT_VAL_SIZE = DatasetParams.model_fields["val_size"].default


class Source(NamedTuple):
    data: SourceSplits
    entry: dict[str, Any]  # meta['source']
    provenance: dict[str, Any]  # meta['provenance']: what the data is, whether official, its order


def provenance(what: str, official: bool, checked: str, order: str) -> dict[str, Any]:
    """meta['provenance']: ``official`` only when the source's checksum equals the official files';
    ``order`` is the training images' order, which the semi-supervised subsets (first K) follow."""
    return {"what": what, "official": official, "checked": checked, "order": order}


def _cifar_provenance(md5: str) -> dict[str, Any]:
    # load_cifar_archive refuses any other archive; the comparison still decides the label.
    if cifar.is_official_cifar10(md5):
        return provenance(OFFICIAL_CIFAR10, True, f"md5 {md5} equals the official archive's", CIFAR10_ORDER)
    return provenance(
        "CIFAR-10 format archive", False, f"md5 {md5}, not the official {cifar.CIFAR10_MD5}", "the archive's order"
    )


def _idx_provenance(folder: Path, shown: str) -> dict[str, Any]:
    official, checked = fashion.official_files(folder)
    if official:
        return provenance(fashion.OFFICIAL, True, checked, "the official IDX files' order")
    return provenance(f"Fashion-MNIST format, from {shown}", False, checked, "the IDX files' order")


class Official(NamedTuple):
    """A dataset's official files: how to fetch them into a folder (checksum-checked; files
    already there are verified, never overwritten), the entry they make there, and how to
    read them."""

    download: Callable[[Path, str], Path]
    entry: str  # the file or folder that download() makes in the folder
    read: Callable[[str, Path], Source]


def _read_cifar10(name: str, archive: Path) -> Source:
    data = cifar.load_cifar_archive(archive, name)
    entry = {"kind": "download", "url": cifar.CIFAR10_URL, "path": str(archive)}
    return Source(data, entry, _cifar_provenance(data.checksum["value"]))


def _read_fashion_mnist(name: str, folder: Path) -> Source:
    entry = {"kind": "download", "url": fashion.FASHION_MIRROR, "path": str(folder)}
    return Source(fashion.load_idx_folder(folder, name), entry, _idx_provenance(folder, str(folder)))


# Datasets with an official download (source: download): adding one is one entry.
OFFICIAL_DOWNLOADS: dict[str, Official] = {
    "cifar10": Official(cifar.download_cifar10, cifar.CIFAR10_FILENAME, _read_cifar10),
    "fashion_mnist": Official(fashion.download_fashion_mnist, fashion.FASHION_DIR, _read_fashion_mnist),
}


def official(name: str) -> Official:
    if name not in OFFICIAL_DOWNLOADS:
        raise RotnetError(
            f"no official download for dataset '{name}' (official downloads: {', '.join(OFFICIAL_DOWNLOADS)}); "
            f"add its files with `rotnet data add {name} PATH` and set datasets.{name}.source to imagefolder"
        )
    return OFFICIAL_DOWNLOADS[name]


def dataset_label(prov: dict[str, Any], train_per_class: int | None, val_size: int | None) -> str:
    """meta['description'], the dataset's label wherever figures are shown: what the data is
    (official only when checksum-checked) and every cut of it (a train cut, a validation
    carve smaller than the default)."""
    cuts = [f"train cut to the first {train_per_class:,} images per class"] if train_per_class else []
    if val_size is not None and val_size < DEFAULT_VAL_SIZE:
        cuts.append(f"validation {val_size:,} images (default {DEFAULT_VAL_SIZE:,})")
    return "; ".join([prov["what"], *cuts])


def shape_images(images: np.ndarray, cfg: DatasetParams) -> np.ndarray:
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


def check_final_size(name: str, cfg: DatasetParams, height: int, width: int) -> None:
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


def _folder_provenance(name: str, path: Path) -> dict[str, Any]:
    # No official checksum exists for an image folder: never official, whatever it holds.
    checked = "an image folder has no official checksum"
    if name == "cifar10" and "jpeg" in path.name.lower():
        return provenance(f"CIFAR-10 JPEG copy (image folder {path})", False, checked, FOLDER_ORDER)
    return provenance(f"image folder {path}", False, checked, FOLDER_ORDER)


def read_source(name: str, cfg: DatasetParams, source: Path) -> Source:
    """The splits of ``source``, its meta['source'] entry and its provenance. ``source`` is the
    archive or folder to read; for source: download, the folder of the official files
    (data/raw/<name>), where they are fetched when absent (outside DVC: under DVC it holds them)."""
    if cfg.source == "download":
        files = official(name)
        others = sorted(p.name for p in source.iterdir() if p.name != files.entry) if source.is_dir() else []
        if others:
            raise RotnetError(
                f"{source} holds {', '.join(others)}, not the official {name} files that datasets.{name}.source: "
                f"download names; set datasets.{name}.source to what it is (cifar-archive, idx or imagefolder), or "
                f"run `rotnet data add {name} --replace` to download the official files"
            )
        return files.read(name, files.download(source, name))
    entry = {"kind": cfg.source, "path": str(source)}
    if cfg.source == "cifar-archive":
        data = cifar.load_cifar_archive(source, name)
        return Source(data, entry, _cifar_provenance(data.checksum["value"]))
    if cfg.source == "idx":
        return Source(fashion.load_idx_folder(source, name), entry, _idx_provenance(source, str(source)))
    # Resize and convert while decoding: it is cheaper, and it is what makes folders of mixed sizes usable.
    data = load_imagefolder(
        source,
        name,
        cfg.resize,
        channels=cfg.channels,
        skip_unreadable=cfg.skip_unreadable,
        limits=TreeLimits(cfg.max_files, cfg.max_total_mb, f"datasets.{name}"),
    )
    return Source(data, entry, _folder_provenance(name, source))


def class_counts(labels: np.ndarray, num_classes: int) -> list[int]:
    return np.bincount(labels, minlength=num_classes).tolist()
