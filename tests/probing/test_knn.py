"""The weighted kNN probe: votes, chunking, selection on validation, pooled features."""

from __future__ import annotations

import math

import pytest
import torch

from rotnet.data.device import DeviceDataset
from rotnet.errors import RotnetError
from rotnet.models.registry import create_backbone
from rotnet.params import parse_params
from rotnet.probing import knn
from rotnet.probing.knn import knn_grid, knn_predict, pooled_features, select
from tests.synthetic import dataset


def at(*degrees: float) -> torch.Tensor:
    """Unit vectors at these angles: cosine similarity is the cosine of the angle between."""
    rad = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([rad.cos(), rad.sin()], 1).float()


def brute_force(bank, bank_labels, queries, k, t, num_classes) -> list[int]:
    """One query at a time, in plain Python."""
    out = []
    for q in queries:
        sims = [(float(torch.cosine_similarity(q, b, dim=0)), int(y)) for b, y in zip(bank, bank_labels, strict=True)]
        scores = [0.0] * num_classes
        for sim, y in sorted(sims, reverse=True)[:k]:
            scores[y] += math.exp(sim / t)
        out.append(max(range(num_classes), key=scores.__getitem__))
    return out


def test_closer_neighbours_outvote_more_but_farther_ones():
    # Three class-0 neighbours at 50 degrees from the query, two class-1 neighbours at 5.
    bank = at(50, -50, 52, 5, -5)
    labels = torch.tensor([0, 0, 0, 1, 1])
    query = at(0)
    # A sharp temperature weighs the two close class-1 neighbours above the three far ones ...
    assert knn_predict(bank, labels, query, 5, 0.07, 2).tolist() == [1]
    # ... a flat one is a plain majority vote, which class 0 wins.
    assert knn_predict(bank, labels, query, 5, 100.0, 2).tolist() == [0]
    assert knn_predict(bank, labels, query, 3, 100.0, 2).tolist() == [1]  # k=3: 5, -5 and one at 50


def test_matches_a_brute_force_reference_in_chunks(monkeypatch):
    monkeypatch.setattr(knn, "QUERY_CHUNK", 7)  # several chunks, the last one partial
    gen = torch.Generator().manual_seed(0)
    bank, queries = torch.randn(60, 8, generator=gen), torch.randn(23, 8, generator=gen)
    labels = torch.randint(0, 4, (60,), generator=gen)
    bank[:10] *= 5  # the norm plays no part: features are L2-normalised
    for k, t in ((1, 0.1), (10, 0.07), (25, 0.5)):
        assert knn_predict(bank, labels, queries, k, t, 4).tolist() == brute_force(bank, labels, queries, k, t, 4)


def test_k_above_the_memory_bank_is_clamped():
    gen = torch.Generator().manual_seed(1)
    bank, queries = torch.randn(12, 4, generator=gen), torch.randn(9, 4, generator=gen)
    labels = torch.randint(0, 3, (12,), generator=gen)
    assert torch.equal(knn_predict(bank, labels, queries, 200, 0.1, 3), knn_predict(bank, labels, queries, 12, 0.1, 3))


def select_and_test(*args, **kwargs):
    """One backbone's kNN probe, as the probe stage runs it with one seed."""
    return select([knn_grid(*args, **kwargs)])[0]


def test_chooses_k_and_layer_on_validation_never_on_test():
    # Layer "a": one class-0 image at 0 degrees, three class-1 images at 16-18. The val image
    # (class 0, at 5) is right with k=1 only; the test image (class 1, at 7) with k=3 only.
    # Layer "b" gets val wrong and test right. Choosing on test would take k=3 and layer "b".
    train = {"a": at(0, 16, 17, 18), "b": at(0, 88, 90, 92)}
    val = {"a": at(5), "b": at(80)}
    test = {"a": at(7), "b": at(85)}
    labels = torch.tensor([0, 1, 1, 1])
    result = select_and_test(
        train, labels, val, torch.tensor([0]), test, torch.tensor([1]), [3, 1], [0.1, 0.05], num_classes=2
    )
    assert result.layers["a"] == {"k": 1, "temperature": 0.1, "val_acc": 100.0, "test_acc": 0.0}
    assert result.layers["b"]["val_acc"] == 0.0 and result.layers["b"]["test_acc"] == 100.0
    assert (result.layers["b"]["k"], result.layers["b"]["temperature"]) == (3, 0.1)  # all tie: the grid's first
    assert result.best_layer == "a"


def test_accuracies_are_percent_rounded_to_two_decimals():
    queries = {"x": at(1, 1, 89)}  # predicted 0, 0, 1
    labels = torch.tensor([0, 1])
    result = select_and_test(
        {"x": at(0, 90)}, labels, queries, torch.tensor([0, 0, 0]), queries, torch.tensor([0, 0, 1]), [1], [0.1], 2
    )
    assert result.layers["x"]["val_acc"] == 66.67 and result.layers["x"]["test_acc"] == 100.0


def test_pooled_features_of_every_map_in_one_pass_per_batch():
    torch.manual_seed(0)
    model = create_backbone("nin", 4, options={"width": 8}).train()
    data = DeviceDataset.from_prepared(dataset(n_train=20, n_val=8, n_test=8), torch.device("cpu"))
    calls = []
    original = model.forward_intermediates
    model.forward_intermediates = lambda x, upto=None: calls.append(upto) or original(x, upto)

    feats = pooled_features(model, data.train, batch_size=8)

    assert calls == [None] * 3  # 20 images in batches of 8: one full pass per batch
    assert model.training  # the caller's mode is given back
    assert list(feats) == model.feature_names
    for info in model.feature_info:
        assert feats[info.name].shape == (20, info.channels) and feats[info.name].dtype == torch.float32
    # eval mode (BN running statistics) and batch-size independent
    model.eval()
    with torch.no_grad():
        maps = original(next(data.train.eval_batches(20)).x)
    for name, m in maps.items():
        torch.testing.assert_close(feats[name], m.mean((2, 3)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "probe,words",
    [
        ({"knn_k": [10, 0]}, ["knn_k must be >= 1"]),
        ({"knn_k": []}, ["probe.knn_k", "at least 1"]),
        ({"knn_temperature": [0.1, 0.0]}, ["knn_temperature must be > 0"]),
        ({"knn_temperature": []}, ["probe.knn_temperature", "at least 1"]),
    ],
)
def test_bad_knn_grids_name_the_key(probe, words):
    with pytest.raises(RotnetError) as err:
        parse_params({"probe": {"schedule": {"milestones": [35, 70, 85]}, **probe}})
    for word in words:
        assert word in str(err.value)


def test_default_grids():
    p = parse_params({}).probe
    assert p.knn_k == [10, 20, 50, 100, 200] and p.knn_temperature == [0.05, 0.07, 0.1, 0.2]


def test_several_seeds_share_one_k_and_t_and_one_best_map_chosen_on_mean_validation():
    """Per seed the grid's best pair differs; the shared choice is the mean's, and each seed
    reports its own test figure at that pair, whatever its test figures elsewhere."""
    from rotnet.probing.knn import KnnGrid, select

    pairs = [(10, 0.1), (20, 0.1), (50, 0.1)]

    def grid(val_a, test_a, val_b):
        return KnnGrid(
            val={"a": dict(zip(pairs, val_a, strict=True)), "b": dict(zip(pairs, val_b, strict=True))},
            test={"a": dict(zip(pairs, test_a, strict=True)), "b": {p: 0.0 for p in pairs}},
        )

    seeds = [grid([90, 80, 50], [10, 60, 99], [85, 10, 10]), grid([50, 80, 90], [99, 64, 10], [85, 10, 10])]
    alone = [select([g])[0] for g in seeds]
    assert [r.layers["a"]["k"] for r in alone] == [10, 50]  # each seed alone: its own best pair
    assert [r.best_layer for r in alone] == ["a", "a"]
    shared = select(seeds)
    assert [(r.layers["a"]["k"], r.layers["a"]["temperature"]) for r in shared] == [(20, 0.1), (20, 0.1)]
    assert [r.layers["a"]["val_acc"] for r in shared] == [80.0, 80.0]
    assert [r.layers["a"]["test_acc"] for r in shared] == [60.0, 64.0]  # each seed's test at (20, 0.1)
    # Each seed alone prefers map a (90 > 85); over seeds map a's shared pair gives 80, map b's 85.
    assert [r.layers["b"]["k"] for r in shared] == [10, 10] and [r.best_layer for r in shared] == ["b", "b"]
