"""The pretrain stage on any angle set of pretrain.rotations (the paper's Table 2)."""

import json

import pytest
import torch

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.models.saved import load_model_file
from rotnet.params import parse_params
from rotnet.stages import pretrain
from tests.synthetic import TINY_TRAINING, save_project_data

TINY = TINY_TRAINING


@pytest.fixture
def prepared(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_project_data(64, 32, 32)


def _params(rotations, mask="auto"):
    return parse_params(
        {
            "runtime": {"device": "cpu", "eval_batch_size": 64},
            "backbones": {"nin": {"width": 8}},
            "pretrain": {**TINY, "rotations": rotations, "mask": mask},
        }
    )


@pytest.mark.parametrize(
    ("rotations", "mask", "offset"), [([0, 180], "circle", 0.0), (list(range(0, 360, 45)), "auto", 22.5)]
)
def test_pretrain_trains_on_the_angle_set_and_records_it(prepared, rotations, mask, offset):
    torch.manual_seed(0)
    pretrain.run(_params(rotations, mask), "cifar10", "nin")
    model = load_model_file(paths.model_file("pretrain", "cifar10", "nin"))
    assert model["rotations"] == rotations and model["num_classes"] == len(rotations) and model["task"] == "rotation"
    assert model["state_dict"]["head.fc.weight"].shape[0] == len(rotations)
    # The mask and the shared resampling offset, for the probes, predict and orient.
    assert (model["mask"], model["rotation_offset"]) == ("circle", offset)
    record = json.loads(paths.record_file("pretrain", "cifar10", "nin").read_text())
    assert record["rotations"] == rotations and (record["mask"], record["rotation_offset"]) == ("circle", offset)
    assert list(record["per_rotation_test_acc"]) == [str(a) for a in rotations]  # named by angle


def test_the_default_set_is_recorded_too(prepared):
    pretrain.run(_params([0, 90, 180, 270]), "cifar10", "nin")
    model = load_model_file(paths.model_file("pretrain", "cifar10", "nin"))
    assert model["rotations"] == [0, 90, 180, 270]
    # Images as they are: no view fields, so the file is byte for byte what it was before them.
    assert "mask" not in model and "rotation_offset" not in model
    record = json.loads(paths.record_file("pretrain", "cifar10", "nin").read_text())
    assert list(record["per_rotation_test_acc"]) == ["0", "90", "180", "270"]
    assert (record["mask"], record["rotation_offset"]) == ("none", 0.0)


def test_a_bad_mask_is_refused_by_name():
    with pytest.raises(RotnetError, match="pretrain.mask: Input should be .auto., .circle. or .none."):
        _params([0, 90, 180, 270], "square")
