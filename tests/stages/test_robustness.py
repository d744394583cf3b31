"""robustness: the stages' classifiers and the RotNet's best probe on corrupted test sets."""

import json

import numpy as np
import pytest

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.params import parse_params
from rotnet.stages import pretrain, probe, robustness, supervised, supervised_rot
from tests.synthetic import TINY_TRAINING

CORRUPTIONS = ["gaussian_noise", "contrast"]


def _params(project, **datasets):
    raw = project.model_dump(mode="json")
    raw["supervised_rot"] = TINY_TRAINING
    raw["robustness"] = {"corruptions": CORRUPTIONS, "severities": [1, 5]}
    raw["datasets"]["cifar10"].update(datasets)
    return parse_params(raw)


def test_each_model_is_scored_clean_and_under_every_corruption(project):
    params = _params(project)
    for stage in (supervised, supervised_rot, pretrain, probe):
        stage.run(params, "cifar10", "nin")
    metrics = robustness.run(params, "cifar10", "nin")
    assert set(metrics) == {"supervised", "supervised_rot", "probe"}
    assert all(set(m) == {"corruption_acc"} for m in metrics.values())
    record = json.loads(paths.record_file("robustness", "cifar10", "nin").read_text())
    # The clean figure is the stage's own test accuracy: same model, same test split.
    for kind in ("supervised", "supervised_rot"):
        stage_test = json.loads(paths.metrics_file(kind, "cifar10", "nin").read_text())["test_acc"]
        assert record[kind]["clean_acc"] == stage_test
    probe_best = json.loads(paths.metrics_file("probe", "cifar10", "nin").read_text())["best"]["test_acc"]
    assert record["probe"]["clean_acc"] == probe_best
    assert set(record["supervised"]["per_set"]) == {"gaussian_noise/1", "gaussian_noise/5", "contrast/1", "contrast/5"}
    per_set = record["supervised"]["per_set"].values()
    assert record["supervised"]["corruption_acc"] == pytest.approx(np.mean(list(per_set)), abs=0.01)
    assert record["source"] == "regenerated (rotnet.data.corruptions)" and record["families"]["contrast"] == "digital"
    assert "recipe" not in record and "host" in record


def test_published_files_replace_the_regenerated_sets(project, tmp_path):
    """Where datasets.<name>.corruptions names a folder, its files are read instead: here
    sets whose every image is blank, so every model predicts one class for all of them."""
    folder = tmp_path / "cifar10-c"
    folder.mkdir()
    test = np.load(paths.prepared_dir("cifar10") / "test_images.npy")
    labels = np.load(paths.prepared_dir("cifar10") / "test_labels.npy")
    for name in CORRUPTIONS:
        np.save(folder / f"{name}.npy", np.zeros((5 * len(test), *test.shape[1:]), np.uint8))
    np.save(folder / "labels.npy", np.tile(labels, 5))
    params = _params(project, corruptions=str(folder))
    params = parse_params(
        {**params.model_dump(mode="json"), "robustness": {**params.robustness.model_dump(), "models": ["supervised"]}}
    )
    supervised.run(params, "cifar10", "nin")
    robustness.run(params, "cifar10", "nin")
    record = json.loads(paths.record_file("robustness", "cifar10", "nin").read_text())
    assert record["source"].startswith("published CIFAR-10-C files in")
    # One class for every blank image: the accuracy is that class's share of the test split.
    shares = {round(float((labels == c).mean() * 100), 2) for c in np.unique(labels)}
    assert set(record["supervised"]["per_set"].values()) <= shares


def test_a_missing_upstream_model_names_the_stage_to_run(project):
    params = _params(project)
    with pytest.raises(RotnetError, match="run the supervised stage first"):
        robustness.run(params, "cifar10", "nin")


def test_unknown_corruptions_and_bad_severities_are_refused():
    with pytest.raises(RotnetError, match="robustness.*unknown corruptions \\['fog'\\]"):
        parse_params({"robustness": {"corruptions": ["fog"]}})
    with pytest.raises(RotnetError, match="severities must be distinct values of 1..5"):
        parse_params({"robustness": {"severities": [0, 6]}})


def test_a_joint_model_is_scored_aggregated_and_upright_as_its_stage_reports_it(project):
    raw = _params(project).model_dump(mode="json")
    raw["supervised_rot"]["mode"] = "joint"
    raw["robustness"]["models"] = ["supervised_rot"]
    params = parse_params(raw)
    stage_metrics = supervised_rot.run(params, "cifar10", "nin")
    metrics = robustness.run(params, "cifar10", "nin")
    assert set(metrics) == {"supervised_rot", "supervised_rot_upright"}
    record = json.loads(paths.record_file("robustness", "cifar10", "nin").read_text())
    assert record["supervised_rot"]["clean_acc"] == stage_metrics["test_acc"]
    assert record["supervised_rot_upright"]["clean_acc"] == stage_metrics["upright_test_acc"]
