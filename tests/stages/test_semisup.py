"""The semi-supervised stage runs the official protocol (paper fig. 5b)."""

import json

import pytest
import torch

from rotnet import paths
from rotnet.models.heads import conv_head
from rotnet.models.saved import load_model_file
from rotnet.params import parse_params
from rotnet.stages import pretrain, semisup
from tests.synthetic import save_project_data

ARM = {"epochs": 1, "batch_size": 32, "epoch_size": 96, "schedule": {"milestones": []}}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_project_data(96, 32, 32)
    params = parse_params(
        {
            "runtime": {"device": "cpu", "eval_batch_size": 64},
            "backbones": {"nin": {"width": 8}, "nin3": {"arch": "nin", "blocks": 3, "width": 8}},
            "pretrain": {"epochs": 1, "batch_size": 32, "schedule": {"milestones": []}},
            "semisup": {
                "labels_per_class": [2, 5],
                "arms": ["scratch", "rotnet", "rotnet_finetune"],
                "scratch": ARM,
                "rotnet": ARM,
            },
        }
    )
    pretrain.run(params, "cifar10", "nin")
    return params


def test_arms_labels_and_selection_follow_the_official_protocol(project):
    before = load_model_file(paths.model_file("pretrain", "cifar10", "nin"))["state_dict"]
    metrics = semisup.run(project, "cifar10", "nin")
    assert set(metrics["points"]) == {"2", "5"}
    assert all(set(arms) == {"scratch", "rotnet", "rotnet_finetune"} for arms in metrics["points"].values())
    record = json.loads(paths.record_file("semisup", "cifar10", "nin").read_text())
    assert record["scratch_backbone"] == "nin3" and record["conv_head_layer"] == "block2"
    first = record["points"][0]
    # 2 labels per class x 4 classes: a labelled set far smaller than one batch still trains, and each epoch
    # cycles it to epoch_size images (96 // 32 = 3 steps).
    assert (first["train_images"], first["val_images"]) == (8, 8)  # validation: K per class too
    assert all(first[arm]["steps_per_epoch"] == 3 for arm in ("scratch", "rotnet", "rotnet_finetune"))
    # The paper's RotNet arm trains the conv head alone; the frozen backbone is untouched.
    head = sum(p.numel() for p in conv_head(8, 4).parameters())
    assert first["rotnet"]["trainable_parameters"] == head
    assert first["rotnet_finetune"]["trainable_parameters"] > head
    assert first["scratch"]["network"] == "nin3"
    # Synthetic data records no provenance: the record claims no official subset.
    assert record["subset"] == {
        "official": False,
        "description": "the first K images of each class of the prepared training split",
    }
    after = load_model_file(paths.model_file("pretrain", "cifar10", "nin"))["state_dict"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_scratch_backbone_must_be_a_known_entry():
    from rotnet.errors import RotnetError

    with pytest.raises(RotnetError, match="semisup.scratch_backbones names 'nope'"):
        parse_params({"semisup": {"scratch_backbones": {"nin": "nope"}}})


def test_params_refuse_a_label_count_above_the_reserved_first_images():
    from rotnet.errors import RotnetError

    # The paper's K = 5000 beside the default reservation: refused at load, naming both keys.
    with pytest.raises(RotnetError, match="datasets.cifar10.keep_first_per_class") as err:
        parse_params(
            {"datasets": {"cifar10": {"keep_first_per_class": 1000}}, "semisup": {"labels_per_class": [20, 5000]}}
        )
    assert "semisup.labels_per_class has 5000" in str(err.value)
    parse_params({"datasets": {"cifar10": {"keep_first_per_class": 1000}}, "semisup": {"labels_per_class": [1000]}})
