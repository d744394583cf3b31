"""The official CIFAR-10 python archive: download (MD5-checked) and parsing straight from the tar.gz.

Its safe downloader (``download_verified``) serves every official download.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
import zlib
from http.client import HTTPException
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rotnet.atomic import process_alive
from rotnet.data.prepared import Split
from rotnet.data.split import SourceSplits
from rotnet.errors import RotnetError
from rotnet.progress import log

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_FILENAME = "cifar-10-python.tar.gz"
CIFAR10_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_MEMBER = "batches.meta"
IMAGE_SIDE = 32


def download_url(url: str, root: str, filename: str) -> None:
    """torchvision's downloader (redirects, http fallback), imported only when a download is needed."""
    from torchvision.datasets.utils import download_url as torchvision_download_url

    torchvision_download_url(url, root, filename=filename, md5=None)


def file_md5(path: Path) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            md5.update(chunk)
    return md5.hexdigest()


def check_md5(path: Path, name: str) -> str:
    """Return the archive's md5, or raise if it is not the official one (``CIFAR10_MD5``)."""
    actual = file_md5(path)
    if actual != CIFAR10_MD5:
        raise RotnetError(
            f"{path} has md5 {actual}, but the official CIFAR-10 python archive has md5 {CIFAR10_MD5}: "
            "the file is incomplete, damaged or a different file. Delete it and download it again "
            f"(`rotnet data add {name} --replace`), or add a good copy (`rotnet data add {name} PATH --replace`)"
        )
    return actual


def is_official_cifar10(md5: str) -> bool:
    """Whether an archive with this md5 is the official CIFAR-10 python archive."""
    return md5 == CIFAR10_MD5


class DownloadFailed(Exception):
    """The transfer itself failed (offline, DNS, HTTP error); callers turn it into advice."""


def remove_stale_parts(target: Path) -> list[Path]:
    """Delete the temporary files of downloads of ``target`` whose process is gone (killed
    runs leave them: their cleanup never ran); a download still in progress keeps its own."""
    removed = []
    prefix = f".{target.name}."
    for part in target.parent.glob(f"{prefix}*.part"):
        pid = part.name[len(prefix) : -len(".part")]
        if pid.isdigit() and not process_alive(int(pid)):
            part.unlink(missing_ok=True)
            removed.append(part)
    if removed:
        log(f"removed {len(removed)} unfinished download(s) of {target.name} left by killed runs")
    return removed


def download_verified(url: str, target: Path, md5: str) -> None:
    """Download ``url`` to ``target`` only if its md5 is ``md5``; nothing else is ever left at ``target``.

    Raises DownloadFailed when the transfer fails and RotnetError when the md5 does not match.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    # torchvision writes straight to the file it is given; download under a hidden temporary name
    # and rename after the md5 check, so an interrupted download never looks like the real file.
    partial = target.parent / f".{target.name}.{os.getpid()}.part"
    remove_stale_parts(target)
    partial.unlink(missing_ok=True)
    try:
        try:
            download_url(url, str(target.parent), partial.name)
        except (OSError, HTTPException, RuntimeError, ValueError) as err:  # URLError is an OSError
            raise DownloadFailed(str(err)) from None
        actual = file_md5(partial)
        if actual != md5:
            raise RotnetError(
                f"the download of {url} has md5 {actual}, expected {md5} (a truncated or "
                f"altered download); run again, or put a good copy at {target}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def download_cifar10(download_dir: Path, name: str = "cifar10") -> Path:
    """Return the official archive in ``download_dir``, downloading it only when it is absent."""
    target = download_dir / CIFAR10_FILENAME
    if target.is_file():
        check_md5(target, name)  # an existing file is the user's: report a bad one, never overwrite it
        return target
    try:
        download_verified(CIFAR10_URL, target, CIFAR10_MD5)
    except DownloadFailed as err:
        raise RotnetError(
            f"could not download CIFAR-10 from {CIFAR10_URL} ({err}); this machine may be offline. "
            f"Fetch that file another way and put it at {target} (it is used when its md5 is "
            f"{CIFAR10_MD5}), or add your copy of cifar-10-python.tar.gz with `rotnet data add {name} PATH` "
            f"and set datasets.{name}.source: cifar-archive"
        ) from None
    return target


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickle only plain containers and numpy arrays: a wrong archive cannot run code."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR batch")
        return super().find_class(module, name)


def _batch_images(batch: dict, member: str) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * IMAGE_SIDE * IMAGE_SIDE or len(labels) != len(data):
        raise ValueError(f"{member}: data {data.shape} / labels {labels.shape} are not N x 3072 / N")
    # Rows are channel-planar (1024 red, 1024 green, 1024 blue values, row-major): to N, H, W, C.
    images = data.reshape(-1, 3, IMAGE_SIDE, IMAGE_SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def load_cifar_archive(path: Path, name: str = "cifar10") -> SourceSplits:
    """Check the md5 of an official-format archive and parse it without extracting to disk."""
    if not path.is_file():
        raise RotnetError(
            f"CIFAR-10 archive {path} not found; add your copy of {CIFAR10_FILENAME} with "
            f"`rotnet data add {name} PATH`, or download it with `rotnet data add {name}`"
        )
    md5 = check_md5(path, name)
    wanted = {f"{CIFAR10_DIR}/{m}" for m in (*TRAIN_BATCHES, TEST_BATCH, META_MEMBER)}
    found: dict[str, Any] = {}
    try:
        # One sequential pass: random access into a .gz means decompressing again from the start.
        with tarfile.open(path, "r:*") as tf:
            for member in tf:
                if member.name in wanted and member.isfile():
                    with tf.extractfile(member) as f:  # type: ignore[union-attr]  # isfile() above
                        found[member.name.rsplit("/", 1)[1]] = _ArrayUnpickler(f, encoding="bytes").load()
        missing = sorted(m.rsplit("/", 1)[1] for m in wanted if m.rsplit("/", 1)[1] not in found)
        if missing:
            raise ValueError(f"members {missing} missing under {CIFAR10_DIR}/")
        train = [_batch_images(found[b], b) for b in TRAIN_BATCHES]
        test_images, test_labels = _batch_images(found[TEST_BATCH], TEST_BATCH)
        class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in found[META_MEMBER][b"label_names"]]
    except (
        tarfile.TarError,
        EOFError,
        zlib.error,
        OSError,
        pickle.UnpicklingError,
        KeyError,
        ValueError,
    ) as err:
        raise RotnetError(
            f"cannot read CIFAR-10 archive {path}: {err}; it is damaged or not the official python "
            "version (cifar-10-python.tar.gz). Replace it with a good copy"
        ) from None
    train_labels = np.concatenate([labels for _, labels in train])
    all_labels = np.concatenate([train_labels, test_labels])
    if len(all_labels) and (all_labels.min() < 0 or all_labels.max() >= len(class_names)):
        raise RotnetError(f"{path}: labels outside 0..{len(class_names) - 1}; replace it with a good copy")
    return SourceSplits(
        train=Split(np.concatenate([images for images, _ in train]), train_labels),
        test=Split(test_images, test_labels),
        class_names=class_names,
        checksum={"algorithm": "md5", "value": md5},
    )
