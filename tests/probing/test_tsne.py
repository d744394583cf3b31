"""The t-SNE picture's points: a stratified fixed subset, a deterministic embedding that
keeps clusters apart, and the pooled features of one map of a tiny backbone."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from rotnet.data.device import DeviceDataset
from rotnet.errors import RotnetError
from rotnet.models.registry import create_backbone
from rotnet.probing.tsne import embed, fixed_subset, tsne_points
from tests.synthetic import dataset


def test_the_subset_is_stratified_sorted_and_seeded():
    shuffle = torch.randperm(100, generator=torch.Generator().manual_seed(9))
    labels = torch.tensor([0] * 40 + [1] * 25 + [2] * 35)[shuffle]
    idx = fixed_subset(labels, 31, seed=0)
    assert len(idx) == 31 and len(set(idx.tolist())) == 31
    assert torch.equal(idx, idx.sort().values)
    counts = torch.bincount(labels[idx], minlength=3).tolist()
    assert max(counts) - min(counts) <= 1 and sum(counts) == 31
    state = torch.get_rng_state()
    assert torch.equal(fixed_subset(labels, 31, seed=0), idx)  # the same for every method given the seed ...
    assert torch.equal(torch.get_rng_state(), state)  # ... and the global RNG untouched
    assert not torch.equal(fixed_subset(labels, 31, seed=1), idx)


def test_a_class_that_runs_out_leaves_its_share_to_the_others():
    labels = torch.tensor([0] * 3 + [1] * 20 + [2] * 20)
    counts = torch.bincount(labels[fixed_subset(labels, 30, seed=0)]).tolist()
    assert counts == [3, 14, 13]  # the rounds go in label order: class 1 takes the odd one


def test_a_subset_as_large_as_the_split_is_all_of_it():
    labels = torch.tensor([1, 0, 1, 0, 2])
    assert fixed_subset(labels, 5, seed=3).tolist() == [0, 1, 2, 3, 4]
    assert fixed_subset(labels, 500, seed=3).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(RotnetError, match="at least 1 image"):
        fixed_subset(labels, 0, seed=3)


def two_clusters(n: int = 60) -> tuple[torch.Tensor, np.ndarray]:
    """Two Gaussian clusters around orthogonal directions (so L2 normalisation keeps them apart)."""
    gen = torch.Generator().manual_seed(0)
    centres = torch.zeros(2, 16)
    centres[0, 0] = centres[1, 1] = 10.0
    side = np.arange(n) % 2
    return centres[side] + torch.randn(n, 16, generator=gen), side


def test_embed_keeps_separated_clusters_apart_and_repeats_for_a_seed():
    features, side = two_clusters()
    points = embed(features, seed=0)
    assert points.shape == (60, 2)
    centroids = np.stack([points[side == s].mean(0) for s in (0, 1)])
    nearest = np.linalg.norm(points[:, None] - centroids[None], axis=2).argmin(1)
    assert (nearest == side).all()
    assert np.array_equal(embed(features, seed=0), points)


def test_embed_refuses_too_few_points():
    with pytest.raises(RotnetError, match="N >= 5"):
        embed(torch.randn(4, 8), seed=0)


def test_embed_without_scikit_learn_says_how_to_install_it(monkeypatch):
    # Imported when embedding, not with the module: a missing package fails here, clearly.
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)  # any import of it fails
    with pytest.raises(RotnetError, match="pip install scikit-learn"):
        embed(torch.randn(10, 8), seed=0)


def test_tsne_points_of_one_map_of_a_subset():
    torch.manual_seed(0)
    model = create_backbone("nin", 4, options={"width": 8}).train()
    test = DeviceDataset.from_prepared(dataset(n_train=8, n_val=8, n_test=40), torch.device("cpu")).test
    calls = []
    original = model.forward_intermediates
    model.forward_intermediates = lambda x, upto=None: calls.append((len(x), upto)) or original(x, upto)

    out = tsne_points(model, test, "block2", n=20, seed=5, batch_size=8)

    assert calls == [(8, "block2"), (8, "block2"), (4, "block2")]  # the subset only, up to the map
    assert model.training  # the caller's mode is given back
    idx = fixed_subset(test.labels, 20, seed=5)
    assert out["labels"] == test.labels[idx].tolist() and out["images"] == 20
    assert len(out["x"]) == len(out["y"]) == 20
    assert out["layer"] == "block2" and out["seed"] == 5 and out["perplexity"] == round(19 / 3, 3)
    assert all(v == round(v, 3) for v in out["x"] + out["y"]) and out["seconds"] >= 0
    assert len({(x, y) for x, y in zip(out["x"], out["y"], strict=True)}) == 20


def test_tsne_points_refuses_an_unknown_map():
    model = create_backbone("nin", 4, options={"width": 8})
    test = DeviceDataset.from_prepared(dataset(n_train=8, n_val=8, n_test=8), torch.device("cpu")).test
    with pytest.raises(RotnetError, match="no feature map 'block9'.*block1, block2, block3, block4"):
        tsne_points(model, test, "block9", n=8, seed=0)
