"""supervised_rot: both modes run as a stage, write a classifier `rotnet predict` reads,
and record results (not run details) in their metrics."""

import json

import pytest
import torch

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.inference.model import load_model
from rotnet.inference.predict import CLASSIFIERS
from rotnet.params import parse_params
from rotnet.rotation import rotate_all
from rotnet.stages import supervised_rot
from tests.synthetic import TINY_TRAINING


def _params(project, **section):
    raw = project.model_dump(mode="json")
    raw["supervised_rot"] = {**TINY_TRAINING, **section}
    return parse_params(raw)


@pytest.mark.parametrize("mode", ["multitask", "joint"])
def test_each_mode_runs_as_a_stage_and_saves_a_classifier_predict_reads(project, mode, capsys):
    params = _params(project, mode=mode, weight=0.5)
    metrics = supervised_rot.run(params, "cifar10", "nin")
    on_disk = json.loads(paths.metrics_file("supervised_rot", "cifar10", "nin").read_text())
    assert on_disk == metrics
    extra = {"rotation_test_acc"} if mode == "multitask" else {"upright_val_acc", "upright_test_acc"}
    assert set(metrics) == {"val_acc", "test_acc", "images_per_s"} | extra
    record = json.loads(paths.record_file("supervised_rot", "cifar10", "nin").read_text())
    assert record["mode"] == mode and record["rotations"] == [0, 90, 180, 270]
    assert record["weight"] == (0.5 if mode == "multitask" else None)
    assert "supervised_rot" in CLASSIFIERS
    model = load_model(paths.model_file("supervised_rot", "cifar10", "nin"), CLASSIFIERS, torch.device("cpu"), "")
    images = torch.randint(0, 256, (3, 16, 16, 3), dtype=torch.uint8).numpy()
    probs = model.probabilities(images)
    assert probs.shape == (3, 4) and torch.allclose(probs.sum(1), torch.ones(3), atol=1e-5)
    if mode == "joint":  # aggregated over the four rotated copies, as the stage's test was
        x = (model.tensor(images) - model.mean) / model.std
        with torch.no_grad():
            logp = torch.log_softmax(model.model(rotate_all(x)[0]), 1).view(4, 3, 4, 4)
        expected = torch.softmax(torch.stack([logp[r, :, :, r] for r in range(4)]).mean(0), 1)
        torch.testing.assert_close(probs, expected, rtol=1e-4, atol=1e-5)
        assert model.joint_rotations == (0, 90, 180, 270)
        # `rotnet predict` aggregates the same way, and says so.
        from PIL import Image

        from rotnet.inference.predict import predict

        Image.fromarray(images[0]).save("a.png")
        rows = predict(paths.model_file("supervised_rot", "cifar10", "nin"), ["a.png"], torch.device("cpu"), 4)
        assert rows[0]["predictions"][0]["probability"] == pytest.approx(float(probs[0].max()), abs=1e-3)
        assert "joint (class, rotation) model" in capsys.readouterr().err


def test_cutmix_is_refused_with_the_reason(project):
    raw = project.model_dump(mode="json")
    raw["supervised_rot"] = {**TINY_TRAINING, "augment": {"cutmix_prob": 0.5}}
    with pytest.raises(RotnetError, match="supervised_rot.*cutmix_prob must be 0: CutMix mixes rotations"):
        parse_params(raw)
