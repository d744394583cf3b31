"""Sample predictions for the report: a trained classifier run on a spread of test images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rotnet.data.prepared import Split


@dataclass(frozen=True)
class Samples:
    images: np.ndarray  # uint8 (N, H, W, C)
    true: list[int]
    pred: list[int]


def pick(count: int, total: int) -> np.ndarray:
    """``count`` indices spread evenly over ``total`` test images (so over the classes too)."""
    return np.linspace(0, total - 1, count).astype(int)


def predict_samples(model_file: Path, kind: str, test: Split, count: int = 32) -> Samples:
    """The ``kind`` model's predictions on ``count`` test images, on the CPU."""
    import torch

    from rotnet.inference.model import load_model

    model = load_model(model_file, (kind,), torch.device("cpu"), "")
    chosen = pick(count, len(test.labels))
    images = test.images[chosen]
    pred = model.probabilities(images).argmax(1).tolist()
    return Samples(images=images, true=test.labels[chosen].tolist(), pred=pred)
