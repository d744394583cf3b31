"""Choices on validation made once over training seeds (rotnet.seeds.choose_once) by the stages:
the controls' and each semi-supervised arm's epoch (the probe's: tests/probing/test_frozen.py).
Planted per-seed figures where each seed alone would choose differently from their mean."""

import pytest

from rotnet.probing.semisup import Curves, choose_epochs
from rotnet.seeds import over_seeds
from rotnet.stages.control import choose_controls
from rotnet.training.results import FitResult, OutputResult
from rotnet.training.seed_runs import SeedResults
from tests.probing.test_frozen import SEED0, SEED1


def test_each_control_is_chosen_once_over_seeds():
    seeds = [
        SeedResults(s, {}, {"backbone": "nin"}, {"random": p, "supervised": p}) for s, p in enumerate((SEED0, SEED1))
    ]
    choose_controls(seeds)
    assert [s.metrics["random"]["probe_test_acc"] for s in seeds] == [75.0, 79.0]
    assert [s.metrics["supervised"]["knn_test_acc"] for s in seeds] == [60.0, 64.0]
    assert seeds[1].record["random"]["best"]["layer"] == "block2" and seeds[1].record["random"]["wall_time_s"] == 2.0


def _semisup_seed(seed: int, curves: Curves) -> SeedResults:
    record = {"backbone": "nin", "points": [{"labels_per_class": 4, "rotnet": {"network": "nin + conv head"}}]}
    return SeedResults(seed, {"points": {}}, record, {(4, "rotnet"): curves})


def test_one_semisup_epoch_for_all_seeds_on_the_mean_validation_curve():
    # Alone, seed 0 chooses epoch 2 and seed 1 epoch 3; the mean curve (50, 59, 58.5) epoch 2.
    # The test figures at the epochs not chosen (90, 10) are never reported.
    seeds = [
        _semisup_seed(0, Curves({1: 50.0, 2: 60.0, 3: 55.0}, {1: 40.0, 2: 45.0, 3: 90.0})),
        _semisup_seed(1, Curves({1: 50.0, 2: 58.0, 3: 62.0}, {1: 41.0, 2: 47.0, 3: 10.0})),
    ]
    choose_epochs(seeds)
    assert [s.metrics["points"]["4"]["rotnet"] for s in seeds] == [
        {"val_acc": 60.0, "test_acc": 45.0},
        {"val_acc": 58.0, "test_acc": 47.0},
    ]
    details = [s.record["points"][0]["rotnet"] for s in seeds]
    assert [(d["best_epoch"], d["network"]) for d in details] == [(2, "nin + conv head")] * 2
    merged = over_seeds([s.metrics for s in seeds], [0, 1])
    assert merged["points"]["4"]["rotnet"]["test_acc"] == 46.0
    assert merged["std"]["points"]["4"]["rotnet"]["test_acc"] == pytest.approx(1.41, abs=0.01)


def test_one_seed_reads_its_own_best_epochs_test_figure():
    result = FitResult({"rotnet": OutputResult(2, 60.0, 45.0, [[1]])}, [], 3, 1.0, 10, 1.0)
    result.history = [{"epoch": e, "val_acc/rotnet": v} for e, v in ((1, 50.0), (2, 60.0), (3, 55.0))]
    curves = Curves.of(result, "rotnet")
    assert curves.test == {2: 45.0}  # the fit's own test pass, at its best validation epoch
    seeds = [_semisup_seed(0, curves)]
    choose_epochs(seeds)
    assert seeds[0].metrics["points"]["4"]["rotnet"] == {"val_acc": 60.0, "test_acc": 45.0}
