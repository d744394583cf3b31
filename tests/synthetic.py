"""Small image datasets drawn by the tests: a class cue (which colour channel, how
long a bar) and an orientation cue (the bar always starts at the top edge)."""

from __future__ import annotations

import numpy as np

from rotnet.data.prepared import PreparedDataset, Split, channel_stats


def draw(n: int, classes: int = 4, size: int = 16, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    images = rng.integers(0, 50, (n, size, size, 3)).astype(np.uint8)
    for i, y in enumerate(labels):
        images[i, : 2 + 2 * y, 2 : size - 2, y % 3] = 220
    return Split(images, labels.astype(np.int64))


def dataset(n_train: int = 256, n_val: int = 64, n_test: int = 64, classes: int = 4, size: int = 16) -> PreparedDataset:
    train = draw(n_train, classes, size, seed=1)
    mean, std = channel_stats(train.images)
    meta = {
        "name": "synthetic",
        "class_names": [f"c{i}" for i in range(classes)],
        "mean": mean,
        "std": std,
        "description": "synthetic bars",
    }
    return PreparedDataset("synthetic", train, draw(n_val, classes, size, 2), draw(n_test, classes, size, 3), meta)


# One short epoch: the training section of a stage test's params.
TINY_TRAINING = {"epochs": 1, "batch_size": 32, "schedule": {"milestones": []}}


def save_project_data(n_train: int = 96, n_val: int = 32, n_test: int = 32, name: str = "cifar10") -> None:
    """A synthetic prepared dataset where the stages read it, under the current directory."""
    from rotnet import paths
    from rotnet.data.prepared import save_prepared

    data = dataset(n_train=n_train, n_val=n_val, n_test=n_test)
    save_prepared(paths.prepared_dir(name), {"train": data.train, "val": data.val, "test": data.test}, data.meta)
