import pytest
import torch

from rotnet.models.registry import create_backbone
from rotnet.stages.finetune import load_pretrained_body
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
    from rotnet.params import OptimizerParams
    from rotnet.training.optim import build_optimizer

    opt = build_optimizer(task.param_groups(), OptimizerParams(lr=0.1))
    head_ids = {id(p) for p in model.head.parameters()}
    for group in opt.param_groups:
        in_head = {id(p) in head_ids for p in group["params"]}
        assert len(in_head) == 1
        assert group["lr"] == pytest.approx(0.1 if in_head.pop() else 0.01)
