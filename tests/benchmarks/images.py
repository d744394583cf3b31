"""A tiny CIFAR-10-shaped image folder for the benchmark scripts' runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def image_folder(root: Path, train: int = 16, test: int = 3) -> Path:
    """train/<class>/ and test/<class>/ PNGs: each class its own colour, with noise."""
    rng = np.random.default_rng(0)
    for split, n in (("train", train), ("test", test)):
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                base = np.array([25 * c, 255 - 25 * c, (80 * c) % 256], dtype=np.int16)
                img = np.clip(base + rng.integers(-40, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
                img[: 8 + c, :4] = 255  # an asymmetric mark, so rotations are learnable
                Image.fromarray(img).save(folder / f"{i}.png")
    return root
