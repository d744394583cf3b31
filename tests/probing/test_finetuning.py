"""rotnet/probing/finetuning.py: what the finetune and ssl_finetune stages share: the pretrained
body copied under a fresh classifier, the heads a run covers, and the fine-tuning run itself
(tests/stages/test_finetune.py and test_ssl_finetune.py run it through both stages)."""

import pytest
import torch

from rotnet.errors import RotnetError
from rotnet.models.registry import create_backbone
from rotnet.params import OptimizerParams, parse_params
from rotnet.probing.finetuning import finetune_heads, load_pretrained_body
from rotnet.training.optim import build_optimizer
from rotnet.training.tasks import FinetuneTask


def test_finetune_starts_from_the_pretrained_weights():
    pretrained = create_backbone("nin", 4, options={"width": 16})
    with torch.no_grad():
        for p in pretrained.parameters():
            p.add_(1.0)  # unlike any fresh initialisation
    model = create_backbone("nin", 10, options={"width": 16})
    copied = load_pretrained_body(model, pretrained.state_dict())
    own = model.state_dict()
    for k, v in pretrained.state_dict().items():
        if k.startswith("head."):
            assert k not in copied
        else:
            assert torch.equal(own[k], v), k
    assert own["head.fc.weight"].shape == (10, 16)
    task = FinetuneTask(model, 10, backbone_lr_scale=0.1)
    opt = build_optimizer(task.param_groups(), OptimizerParams(lr=0.1))
    head_ids = {id(p) for p in model.head.parameters()}
    for group in opt.param_groups:
        in_head = {id(p) in head_ids for p in group["params"]}
        assert len(in_head) == 1
        assert group["lr"] == pytest.approx(0.1 if in_head.pop() else 0.01)


def test_a_pretrained_body_of_other_options_is_refused_naming_the_stage_to_rerun():
    model = create_backbone("nin", 10, options={"width": 16})
    narrow = create_backbone("nin", 4, options={"width": 8}).state_dict()
    with pytest.raises(RotnetError, match=r"have other shapes; rerun the ssl_pretrain stage"):
        load_pretrained_body(model, narrow, "ssl_pretrain")
    same = create_backbone("nin", 4, options={"width": 16}).state_dict()
    fewer = {k: v for k, v in same.items() if "block4" not in k}
    with pytest.raises(RotnetError, match=r"lacks \d+ weights of this backbone .*rerun the pretrain stage"):
        load_pretrained_body(model, fewer)  # the RotNet's stage by default


def test_finetune_heads_is_one_head_or_each_in_turn():
    params = parse_params({"finetune": {"heads": ["conv", "linear"]}})
    cfg, heads = finetune_heads(params, "nin", None)
    assert heads == ["conv", "linear"] and cfg == params.finetune
    assert finetune_heads(params, "nin", "linear")[1] == ["linear"]
    with pytest.raises(RotnetError, match=r"--head nonlinear is not one of finetune.heads \['conv', 'linear'\]"):
        finetune_heads(params, "nin", "nonlinear")
    # The recipe is the backbone's: its own finetune keys merged in.
    tuned = parse_params({"backbones": {"nin": {"recipe": {"finetune": {"hidden": 7}}}}})
    assert finetune_heads(tuned, "nin", None)[0].hidden == 7
