"""What checking a prepared dataset on load costs: ``load_prepared`` (every array's size
and sha256 checked against meta.json, then loaded) against loading the same arrays alone.

    python benchmarks/load_check.py                       # a CIFAR-10-sized dataset, in a temporary folder
    python benchmarks/load_check.py --path data/prepared/cifar10   # a real prepared dataset

Prints seconds per load (best of --repeats) and the ratio, checked / plain.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rotnet.data.prepared import Split, array_files, load_prepared, save_prepared

CIFAR10 = {"train": 45000, "val": 5000, "test": 10000}


def synthetic(folder: Path, counts: dict[str, int], size: int = 32) -> Path:
    """A prepared dataset of random images, ``counts`` per split."""
    rng = np.random.default_rng(0)
    splits = {
        name: Split(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), rng.integers(0, 10, n))
        for name, n in counts.items()
    }
    save_prepared(folder, splits, {"name": folder.name, "class_names": [str(c) for c in range(10)]})
    return folder


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(path: Path, repeats: int) -> dict[str, float]:
    load_prepared(path)  # warm the page cache: both sides then read from memory
    checked = best_of(repeats, lambda: load_prepared(path))
    plain = best_of(repeats, lambda: [np.load(path / name) for name in array_files()])
    size = sum((path / name).stat().st_size for name in array_files())
    return {"mib": size / 2**20, "checked_s": checked, "plain_s": plain, "ratio": checked / plain}


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, help="a prepared dataset folder (default: a synthetic CIFAR-10 size)")
    parser.add_argument("--scale", type=float, default=1.0, help="synthetic size, as a fraction of CIFAR-10's")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        counts = {split: max(1, int(n * args.scale)) for split, n in CIFAR10.items()}
        path = args.path or synthetic(Path(tmp) / "cifar10", counts)
        r = measure(path, args.repeats)
    print(
        f"{path.name}: {r['mib']:.0f} MiB of arrays; load_prepared (checked) {r['checked_s']:.3f} s, "
        f"np.load alone {r['plain_s']:.3f} s; ratio checked / plain {r['ratio']:.1f}x, "
        f"the checks add {r['checked_s'] - r['plain_s']:.3f} s per stage start"
    )
    return r


if __name__ == "__main__":
    main()
