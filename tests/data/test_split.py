"""Stratified validation split and per-class subsetting."""

from __future__ import annotations

import numpy as np
import pytest

from rotnet.data.split import first_per_class, stratified_split
from rotnet.errors import RotnetError


def imbalanced_labels(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    counts = [50, 7, 23, 3, 100]
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))


def test_deterministic_for_a_seed_and_varies_with_it():
    labels = imbalanced_labels()
    a = stratified_split(labels, 40, seed=3)
    b = stratified_split(labels, 40, seed=3)
    c = stratified_split(labels, 40, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


def test_partition_is_disjoint_complete_and_sorted():
    labels = imbalanced_labels()
    train_idx, val_idx = stratified_split(labels, 40, seed=0)
    assert len(val_idx) == 40
    assert np.array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(len(labels)))
    assert np.all(np.diff(train_idx) > 0) and np.all(np.diff(val_idx) > 0)
    assert train_idx.dtype == np.int64 and val_idx.dtype == np.int64


@pytest.mark.parametrize("val_size", [1, 9, 40, 91, 170])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_class_proportions_within_one_item(val_size, seed):
    labels = imbalanced_labels(seed)
    train_idx, val_idx = stratified_split(labels, val_size, seed)
    counts = np.bincount(labels)
    val_counts = np.bincount(labels[val_idx], minlength=len(counts))
    exact = val_size * counts / len(labels)
    assert val_counts.sum() == val_size
    assert np.all(np.abs(val_counts - exact) < 1)
    assert np.all(np.bincount(labels[train_idx], minlength=len(counts)) >= 1)


def test_balanced_classes_split_evenly():
    labels = np.repeat(np.arange(10), 300)
    _, val_idx = stratified_split(labels, 500, seed=0)
    assert np.bincount(labels[val_idx]).tolist() == [50] * 10


def test_val_size_too_large():
    labels = np.repeat(np.arange(3), 4)
    with pytest.raises(RotnetError, match="val_size 12 must be smaller than the number of training images"):
        stratified_split(labels, 12, seed=0)


def test_val_size_that_would_empty_a_class():
    labels = np.array([0, 0, 1, 1])
    with pytest.raises(RotnetError, match="no training images"):
        stratified_split(labels, 3, seed=0)


def test_small_class_keeps_a_training_item():
    # Class 1's exact share (9/11) rounds up first by remainder, but it would lose its only item.
    labels = np.array([0] * 10 + [1])
    train_idx, val_idx = stratified_split(labels, 9, seed=0)
    assert 10 in train_idx
    assert len(val_idx) == 9


def test_first_per_class_keeps_order_and_limit():
    labels = np.array([2, 0, 2, 1, 0, 2, 0, 2, 1])
    idx = first_per_class(labels, 2)
    assert idx.tolist() == [0, 1, 2, 3, 4, 8]
    assert first_per_class(labels, 10).tolist() == list(range(len(labels)))


def test_keep_first_leaves_each_class_first_items_in_train():
    labels = imbalanced_labels()
    train_idx, val_idx = stratified_split(labels, 40, seed=0, keep_first=2)
    first = first_per_class(labels, 2)
    assert set(first) <= set(train_idx) and len(val_idx) == 40
    # The quotas are the same as without the reservation: only where they are drawn from moves.
    _, plain = stratified_split(labels, 40, seed=0)
    assert np.bincount(labels[val_idx], minlength=5).tolist() == np.bincount(labels[plain], minlength=5).tolist()
    assert set(first) & set(plain)  # without it, this seed's carve takes some of them
    # Only those move: every other validation item of the plain split stays in validation.
    assert set(plain) - set(first) <= set(val_idx)


def test_keep_first_without_room_for_a_class_share_is_refused():
    labels = np.repeat(np.arange(3), 10)  # 10 per class, val_size 6 takes 2 of each
    with pytest.raises(RotnetError, match="lower datasets.x.keep_first_per_class to at most 8"):
        stratified_split(labels, 6, seed=0, keep_first=9, where="datasets.x.")
    assert len(stratified_split(labels, 6, seed=0, keep_first=8)[1]) == 6  # the carve is then the last two
