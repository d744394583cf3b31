"""rotnet/stages/ssl_semisup.py: the semisup stage's pretrained arms on a SimCLR or BYOL backbone, one
instance per method of semisup.methods, writing where paths.variant_kind says; no scratch arm."""

import json

import pytest

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.models.heads import conv_head
from rotnet.params import parse_params
from rotnet.stages import ssl_semisup
from tests.stages.conftest import save_method_backbone
from tests.synthetic import save_project_data

ARM = {"epochs": 1, "batch_size": 32, "epoch_size": 32, "schedule": {"milestones": []}}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_project_data(96, 32, 32)
    params = parse_params(
        {
            "runtime": {"device": "cpu", "eval_batch_size": 64},
            "backbones": {"nin": {"width": 8}},
            "semisup": {
                "labels_per_class": [2],
                "arms": ["scratch", "rotnet", "rotnet_finetune"],
                "scratch": ARM,
                "rotnet": ARM,
                "methods": ["simclr"],
            },
        }
    )
    save_method_backbone(params, "simclr")
    return params


def test_the_pretrained_arms_run_on_the_methods_backbone_where_its_method_says(project):
    metrics = ssl_semisup.run(project, "cifar10", "nin", "simclr")
    assert set(metrics["points"]) == {"2"} and set(metrics["points"]["2"]) == {"rotnet", "rotnet_finetune"}
    kind = paths.variant_kind("ssl_semisup", "simclr")  # ssl_semisup/simclr
    assert json.loads(paths.metrics_file(kind, "cifar10", "nin").read_text()) == metrics
    record = json.loads(paths.record_file(kind, "cifar10", "nin").read_text())
    assert record["method"] == "simclr" and record["conv_head_layer"] == "block2"
    # No scratch arm, so none of its recipe: the semisup stage runs it, once for every method.
    assert "scratch_backbone" not in record and set(record["recipe"]) == set(record["epoch_size"]) == {"rotnet"}
    point = record["points"][0]
    assert (point["train_images"], point["val_images"]) == (8, 8) and "scratch" not in point
    assert point["rotnet"]["trainable_parameters"] == sum(p.numel() for p in conv_head(8, 4).parameters())
    assert point["rotnet_finetune"]["trainable_parameters"] > point["rotnet"]["trainable_parameters"]
    assert point["rotnet"]["network"] == "nin up to block2 + conv head" and point["rotnet"]["best_epoch"] == 1
    assert not paths.record_file("semisup", "cifar10", "nin").exists()  # not the RotNet's


def test_a_method_outside_semisup_methods_or_a_scratch_only_study_is_refused(project):
    with pytest.raises(RotnetError, match=r"--method byol is not one of semisup.methods \['simclr'\]; add it there"):
        ssl_semisup.run(project, "cifar10", "nin", "byol")
    scratch = project.model_copy(update={"semisup": project.semisup.model_copy(update={"arms": ["scratch"]})})
    with pytest.raises(RotnetError, match=r"semisup.arms \['scratch'\] has no arm on a pretrained backbone"):
        ssl_semisup.run(scratch, "cifar10", "nin", "simclr")
    both = project.model_copy(update={"semisup": project.semisup.model_copy(update={"methods": ["simclr", "byol"]})})
    with pytest.raises(RotnetError, match=r"ssl_pretrain/byol/model.pt not found; run the stage that writes it"):
        ssl_semisup.run(both, "cifar10", "nin", "byol")
