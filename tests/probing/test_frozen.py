"""The frozen-backbone probe (rotnet.probing.frozen): its choices made once over training seeds
on planted per-seed figures where each seed alone would choose differently from their mean,
and the view a masked RotNet saw."""

import pytest
import torch

from rotnet.models.registry import create_backbone
from rotnet.probing.frozen import FrozenProbes, ProbeCandidates, choose_probes, chosen_figures, viewed
from rotnet.probing.knn import KnnGrid
from rotnet.rotation import InputView, circle_mask
from rotnet.seeds import over_seeds
from rotnet.training.results import FitResult, OutputResult
from rotnet.training.seed_runs import SeedResults

LAYERS = {"block1/linear": "block1", "block2/conv": "block2", "block2/linear": "block2"}


def _probes(figures: dict[str, tuple[float, float]], knn_val: list[float], knn_test: list[float]) -> FrozenProbes:
    """Heads' (val, test) by output, and a kNN grid of two pairs on block1 (block2 at 0)."""
    outputs = {o: OutputResult(3, val, test, [[1]]) for o, (val, test) in figures.items()}
    result = FitResult(outputs, [], 4, train_time_s=1.0, train_images=100, wall_time_s=2.0)
    pairs = [(10, 0.1), (20, 0.1)]
    knn = KnnGrid(
        val={"block1": dict(zip(pairs, knn_val, strict=True)), "block2": {p: 0.0 for p in pairs}},
        test={"block1": dict(zip(pairs, knn_test, strict=True)), "block2": {p: 0.0 for p in pairs}},
    )
    return FrozenProbes({}, LAYERS, result, knn, {"linear": [1]})


# Alone, seed 0 chooses block1/linear and k=10, seed 1 block2/linear and k=20; over both
# seeds the mean validation accuracy chooses block2/conv (80 against 70) and k=20 (70 > 65).
SEED0 = _probes({"block1/linear": (90, 70), "block2/conv": (80, 75), "block2/linear": (50, 99)}, [90, 80], [5, 60])
SEED1 = _probes({"block1/linear": (50, 99), "block2/conv": (80, 79), "block2/linear": (90, 60)}, [40, 60], [95, 64])


def test_the_probe_choice_is_one_for_all_seeds_and_its_mean_and_std_are_that_choices():
    assert [chosen_figures([p])[0][0]["best"]["layer"] for p in (SEED0, SEED1)] == ["block1", "block2"]
    both = chosen_figures([SEED0, SEED1])
    bests = [metrics["best"] for metrics, _ in both]
    assert bests == [
        {"layer": "block2", "head": "conv", "val_acc": 80.0, "test_acc": 75.0},
        {"layer": "block2", "head": "conv", "val_acc": 80.0, "test_acc": 79.0},
    ]
    knn = [record["knn"]["block1"] for _, record in both]
    assert [(r["k"], r["val_acc"], r["test_acc"]) for r in knn] == [(20, 80.0, 60.0), (20, 60.0, 64.0)]
    assert {record["knn_best"]["layer"] for _, record in both} == {"block1"}
    # The figures over seeds: the fixed choice's mean, and its std beside it.
    merged = over_seeds([metrics for metrics, _ in both], [0, 1])
    assert merged["best"] == {"layer": "block2", "head": "conv", "val_acc": 80.0, "test_acc": 77.0}
    assert merged["std"]["best"]["test_acc"] == pytest.approx(2.83, abs=0.01)  # sample std of 75, 79
    assert merged["knn"]["block1"]["test_acc"] == 62.0


def test_the_probe_stage_chooser_fills_every_seeds_results_before_its_run_details():
    seeds = [SeedResults(s, {}, {"host": "h"}, ProbeCandidates(p)) for s, p in ((0, SEED0), (1, SEED1))]
    choose_probes(seeds)
    assert [s.metrics["best"]["test_acc"] for s in seeds] == [75.0, 79.0]
    assert list(seeds[0].record)[-1] == "host" and seeds[1].record["layers"]["block2"]["conv"]["best_epoch"] == 3


def test_a_masked_rotnets_own_view_is_chosen_over_seeds_apart_from_the_headline():
    view = InputView(mask=True, offset=0.0)
    # The view's probings are the headline's with the seeds swapped: the same mean choice.
    pairs = ((0, SEED0, SEED1), (1, SEED1, SEED0))
    seeds = [SeedResults(s, {}, {"host": "h"}, ProbeCandidates(p, seen, view)) for s, p, seen in pairs]
    choose_probes(seeds)
    assert [s.metrics["best"]["test_acc"] for s in seeds] == [75.0, 79.0]
    assert [s.metrics["rotnet_view"]["best"]["test_acc"] for s in seeds] == [79.0, 75.0]
    assert seeds[0].record["rotnet_view"]["view"] == view.record() and "shown" in seeds[0].record["rotnet_view"]
    assert list(seeds[0].record)[-1] == "host"


def test_the_viewed_backbone_sees_no_corners_on_every_path():
    model = viewed(create_backbone("nin", 4, options={"width": 8}).eval(), InputView(mask=True))
    x = torch.randn(2, 3, 16, 16)
    y = x.clone()
    y[:, :, ~circle_mask(16)] = 5.0
    with torch.no_grad():
        a, b = model.forward_intermediates(x), model.forward_intermediates(y)
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert torch.equal(model(x), model(y))
    plain = create_backbone("nin", 4, options={"width": 8}).eval()
    with torch.no_grad():
        assert not torch.equal(plain(x), plain(y))
