"""rotnet/stages/ssl_finetune.py: the finetune stage on a SimCLR or BYOL backbone, one instance per
method of finetune.methods and head of finetune.heads, writing where paths.variant_kind says."""

import json

import numpy as np
import pytest
import torch

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.inference.model import load_model
from rotnet.inference.predict import CLASSIFIERS
from rotnet.models.saved import load_model_file
from rotnet.stages import ssl_finetune
from tests.stages.conftest import save_method_backbone


@pytest.fixture
def methods(project):
    """The tiny project fine-tuning SimCLR alone, with a SimCLR backbone to fine-tune."""
    save_method_backbone(project, "simclr")
    update = {"finetune": project.finetune.model_copy(update={"methods": ["simclr"]})}
    return project.model_copy(update=update)


def test_it_fine_tunes_the_methods_backbone_where_its_method_and_head_say(methods):
    simclr = load_model_file(paths.model_file("ssl_pretrain/simclr", "cifar10", "nin"))["state_dict"]
    # The pretrained layers barely move: what the model holds there is what it started from.
    still = methods.model_copy(update={"finetune": methods.finetune.model_copy(update={"backbone_lr_scale": 1e-9})})
    metrics = ssl_finetune.run(still, "cifar10", "nin", "simclr", head="conv")
    assert set(metrics) == {"conv"}
    kind = paths.variant_kind("ssl_finetune", "simclr-conv")  # ssl_finetune/simclr-conv
    assert json.loads(paths.metrics_file(kind, "cifar10", "nin").read_text()) == metrics["conv"]
    assert paths.history_file(kind, "cifar10", "nin").is_file() and paths.logs_dir(kind, "cifar10", "nin").is_dir()
    record = json.loads(paths.record_file(kind, "cifar10", "nin").read_text())
    assert record["method"] == "simclr" and record["head"] == "conv" and record["setting"] == "paper"
    assert record["network"] == "nin up to block2 + fresh conv head" and record["layer"] == "block2"
    saved = load_model_file(paths.model_file(kind, "cifar10", "nin"))
    assert saved["kind"] == "ssl_finetune" and saved["init"] == "simclr-pretrain" and saved["cut"]["head"] == "conv"
    w = "stages.block1.0.weight"
    assert torch.allclose(saved["state_dict"][w], simclr[w], atol=1e-6)  # SimCLR's weights, not a fresh draw
    assert {k.split(".")[1] for k in saved["state_dict"] if k.startswith("stages.")} == {"block1", "block2"}
    assert "ssl_finetune" in CLASSIFIERS  # `rotnet predict` reads it as it reads the RotNet's
    model = load_model(paths.model_file(kind, "cifar10", "nin"), CLASSIFIERS, torch.device("cpu"), "")
    probs = model.probabilities(np.zeros((2, *model.input_size, model.in_chans), dtype=np.uint8))
    assert probs.shape == (2, 4) and torch.allclose(probs.sum(1), torch.ones(2))
    assert not paths.model_file(paths.variant_kind("finetune", "conv"), "cifar10", "nin").exists()  # not the RotNet's


def test_a_method_outside_finetune_methods_or_unpretrained_is_refused(methods):
    assert methods.study.methods == ["simclr", "byol"] and methods.finetune.methods == ["simclr"]
    with pytest.raises(RotnetError, match=r"--method byol is not one of finetune.methods \['simclr'\]; add it there"):
        ssl_finetune.run(methods, "cifar10", "nin", "byol")
    with pytest.raises(RotnetError, match=r"--head linear is not one of finetune.heads"):
        ssl_finetune.run(methods, "cifar10", "nin", "simclr", head="linear")
    # Listed but not pretrained yet: the method's model file is named, not the RotNet's.
    both = methods.model_copy(update={"finetune": methods.finetune.model_copy(update={"methods": ["simclr", "byol"]})})
    with pytest.raises(RotnetError, match=r"ssl_pretrain/byol/model.pt not found; run the stage that writes it"):
        ssl_finetune.run(both, "cifar10", "nin", "byol", head="conv")
