"""A backbone trained on the labels (rotnet.training.on_labels): what the supervised and
baseline stages share."""

import json

import pytest

from rotnet import paths
from rotnet.models.saved import load_model_file
from rotnet.params import parse_params
from tests.synthetic import TINY_TRAINING, save_project_data


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_project_data(64, 16, 16)
    return parse_params(
        {
            "runtime": {"device": "cpu"},
            "study": {"seeds": [0, 1]},
            "backbones": {"nin": {"width": 8}},
            "supervised": TINY_TRAINING,
        }
    )


def test_every_seed_trains_a_model_and_the_metrics_are_over_seeds(project):
    from rotnet.training.on_labels import train_on_labels

    metrics = train_on_labels(project, "cifar10", "nin")
    assert json.loads(paths.metrics_file("supervised", "cifar10", "nin").read_text()) == metrics
    record = json.loads(paths.record_file("supervised", "cifar10", "nin").read_text())
    assert list(record["per_seed"]) == ["0", "1"] and record["recipe"]["optimizer"] == "sgd"
    tests = [record["per_seed"][s]["test_acc"] for s in ("0", "1")]
    assert metrics["test_acc"] == pytest.approx(sum(tests) / 2, abs=0.01)
    seeds = paths.model_file("supervised", "cifar10", "nin").parent / "seeds"
    weights = [load_model_file(seeds / s / "model.pt", kind="supervised")["state_dict"] for s in ("0", "1")]
    assert weights[0].keys() == weights[1].keys()
    assert any(not (weights[0][k] == weights[1][k]).all() for k in weights[0])  # two seeds, two models
    assert paths.history_file("supervised", "cifar10", "nin").is_file()
