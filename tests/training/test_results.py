"""rotnet/training/results.py: accuracies from confusion matrices, each output's kept epoch,
and a stage's metrics (rounded, compared across experiments) apart from its run record."""

from types import SimpleNamespace

import pytest
import torch

from rotnet.params import TrainParams
from rotnet.training.results import (
    FitResult,
    OutputResult,
    accuracy,
    classifier_results,
    final_outputs,
    per_class_accuracy,
    recipe,
)

CONFUSION = [[3, 1], [2, 2]]  # rows: true class


def test_accuracy_is_the_diagonal_share_overall_and_per_class():
    assert accuracy(torch.tensor(CONFUSION)) == pytest.approx(62.5)
    assert accuracy(torch.zeros(2, 2, dtype=torch.long)) == 0.0  # an empty split: no division by zero
    assert per_class_accuracy(CONFUSION, ["cat", "dog"]) == {"cat": 75.0, "dog": 50.0}
    assert per_class_accuracy([[1, 2], [0, 0]], ["a", "b"]) == {"a": 33.33, "b": 0.0}


HISTORY = [{"epoch": 1, "val_acc/a": 50.0, "val_acc/b": 10.0}, {"epoch": 2, "val_acc/a": 40.0, "val_acc/b": 30.0}]
TEST = {"a": torch.tensor([[1, 0], [0, 1]]), "b": torch.tensor([[1, 1], [0, 0]])}


def test_kept_epochs_are_the_best_on_validation_or_the_last():
    best = {"a": (50.0, 1, {})}  # b follows a: it has no weights of its own
    kept = final_outputs(["a", "b"], {"b": "a"}, best, HISTORY, TEST, "best")
    assert kept["a"] == OutputResult(1, 50.0, 100.0, [[1, 0], [0, 1]])
    assert kept["b"] == OutputResult(1, 10.0, 50.0, [[1, 1], [0, 0]])  # a's epoch, its own figures then
    last = final_outputs(["a", "b"], {"b": "a"}, best, HISTORY, TEST, "last")
    assert (last["a"].best_epoch, last["a"].val_acc, last["b"].val_acc) == (2, 40.0, 30.0)


def _env():
    prepared = SimpleNamespace(
        meta={"description": "tiny", "provenance": {"official": True}},
        train=SimpleNamespace(labels=[0] * 96),
        class_names=["cat", "dog"],
    )
    params = SimpleNamespace(runtime=SimpleNamespace(amp=False), backbone_options=lambda name: {"width": 8})
    return SimpleNamespace(
        prepared=prepared,
        params=params,
        kind="supervised",
        dataset="cifar10",
        backbone="nin",
        seed=3,
        device=torch.device("cpu"),
        world=SimpleNamespace(size=1),
    )


def test_metrics_are_rounded_figures_and_the_record_says_how_the_run_went():
    cfg = TrainParams(epochs=4, batch_size=32, schedule={"milestones": []})
    out = OutputResult(3, 71.23456, 69.98765, CONFUSION)
    fit = FitResult({"supervised": out}, [], 4, 2.0, 640, 3.0, extra={"micro_batch": 16, "segments": 1})
    metrics, record = classifier_results(_env(), out, fit, cfg, note="x")
    assert metrics == {"val_acc": 71.23, "test_acc": 69.99, "images_per_s": 320.0}
    assert record["best_epoch"] == 3 and record["note"] == "x" and record["training_seed"] == 3
    assert record["per_class_test_acc"] == {"cat": 75.0, "dog": 50.0} and record["test_confusion"] == CONFUSION
    assert record["recipe"] == recipe(cfg) and record["recipe"]["batch_size"] == 32
    assert (record["train_images"], record["data_official"], record["micro_batch"]) == (96, True, 16)
    assert record["backbone_options"] == {"width": 8} and record["wall_time_s"] == 3.0
    assert not set(metrics) - set(record)  # the record repeats the figures; metrics hold nothing else
