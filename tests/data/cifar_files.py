"""Tiny archives in the official CIFAR-10 python layout, for the data tests."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MARK = (200, 100, 50)  # RGB of pixel (row 1, col 2) of the first training image


def cifar_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": f"batch {seed}".encode(),
        b"labels": [int(i % 10) for i in range(seed, seed + n)],  # a plain list, as in the official files
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }


def add_member(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def make_cifar_archive(path: Path, per_batch: int = 20, n_test: int = 20, skip: str = "") -> dict:
    """A tiny archive in the official layout (5 x per_batch train, n_test test); returns the batches."""
    batches = {f"data_batch_{i}": cifar_batch(per_batch, i) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(n_test, 99)
    data = batches["data_batch_1"][b"data"]
    for channel, value in enumerate(MARK):  # channel-planar rows: plane, then row-major pixels
        data[0, channel * 1024 + 1 * 32 + 2] = value
    meta = {b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_cases_per_batch": per_batch}
    with tarfile.open(path, "w:gz") as tf:
        for name, obj in [*batches.items(), ("batches.meta", meta)]:
            if name != skip:
                # Protocol 2 and numpy.core, like the official pickles (Python 2, numpy 1.x).
                payload = pickle.dumps(obj, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
                add_member(tf, f"cifar-10-batches-py/{name}", payload)
    return batches


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()
