"""What a source yields (train and test splits) and how the train split is cut down and carved."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rotnet.data.prepared import Split
from rotnet.errors import RotnetError


@dataclass(frozen=True)
class SourceSplits:
    """A dataset as its source provides it, before subsetting, validation split and resizing."""

    train: Split
    test: Split
    class_names: list[str]
    checksum: dict[str, str]  # {"algorithm": "md5" | "sha256", "value": hex digest}
    val: Split | None = None  # the source's own validation split (image folders with val/); None: carve one
    skipped: list[str] = field(default_factory=list)  # files skipped as unreadable, as messages name them


def take(split: Split, idx: np.ndarray) -> Split:
    return Split(np.ascontiguousarray(split.images[idx]), split.labels[idx].astype(np.int64))


def first_per_class(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices (in order) of the first ``n`` items of each class; classes with fewer keep all."""
    labels = np.asarray(labels)
    # Rank of each item within its class, counted in file/batch order: a stable sort groups
    # the classes while keeping the original order inside each group.
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(labels)]))
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - group_start
    return np.flatnonzero(rank < n)


def stratified_split(
    labels: np.ndarray, val_size: int, seed: int, keep_first: int | None = None, where: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train_idx, val_idx), both sorted, with ``val_size`` validation items.

    Each class gets floor(val_size * n_class / n) validation items, and the leftover items go to
    the classes with the largest remainders (seeded tie-break), so every class is within one item
    of its exact share. A class never gives up its last training item. Deterministic for a seed.

    ``keep_first``: the validation items are drawn only from outside the first ``keep_first``
    items of each class (in index order), so those stay in train, in order: the official
    semi-supervised subsets (the first K of each class, K <= keep_first) survive the carve.
    The draw is the unreserved one with those ranks skipped, so only the validation items that
    fell among them are replaced. A class whose share does not fit outside them is refused.
    None or 0: drawn from every item.
    ``where`` prefixes the keys errors name (``datasets.<name>.``).
    """
    labels = np.asarray(labels)
    keep = keep_first or 0
    n = len(labels)
    if val_size < 0:
        raise RotnetError(f"{where}val_size must be >= 0, got {val_size}")
    if val_size >= n:
        raise RotnetError(f"{where}val_size {val_size} must be smaller than the number of training images ({n})")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    # Integer arithmetic keeps the quotas exact (no float rounding differences across machines).
    quota = val_size * counts // n
    remainder = val_size * counts % n
    leftover = val_size - int(quota.sum())
    tie_break = rng.random(len(classes))
    for c in np.lexsort((tie_break, -remainder)):
        if leftover == 0:
            break
        if quota[c] + 1 < counts[c]:  # keep at least one training item per class
            quota[c] += 1
            leftover -= 1
    if leftover:
        starved = [int(c) for c, q, k in zip(classes, quota, counts, strict=True) if q + 1 >= k]
        raise RotnetError(
            f"{where}val_size {val_size} of {n} training images would leave class(es) {starved} with no "
            f"training images; lower {where}val_size (at most {n - len(classes)})"
        )
    short = [(int(c), int(k)) for c, q, k in zip(classes, quota, counts, strict=True) if q > max(k - keep, 0)]
    if short:
        c, k = short[0]
        fits = int((counts - quota).min())  # the largest keep_first every class has room for
        raise RotnetError(
            f"the validation split needs {int(quota[classes == c][0])} images of class {c}, which has {k} "
            f"training images, and its first {keep} are kept for the semi-supervised subsets "
            f"({where}keep_first_per_class {keep}); lower {where}keep_first_per_class to at most {fits} (and the "
            f"largest semisup.labels_per_class with it), or lower {where}val_size"
        )
    val_parts = []
    for c, q in zip(classes, quota, strict=True):
        members = np.flatnonzero(labels == c)  # index order: members[j] is the class's item of rank j
        # The same seeded draw as without a reservation, skipping the first `keep` ranks: a
        # validation item outside them stays in validation, so the split moves as little as it can.
        order = rng.permutation(len(members))
        val_parts.append(members[order[order >= keep][:q]])
    val_idx = np.sort(np.concatenate(val_parts)) if val_parts else np.empty(0, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask).astype(np.int64), val_idx.astype(np.int64)
