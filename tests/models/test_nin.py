"""NIN (rotnet.models.nin): the paper's layout and the official code's init."""

from __future__ import annotations

import math

import torch

from rotnet.models.registry import create_backbone


def _layout(model) -> list[tuple[str, int, int]]:
    return [(f.name, f.channels, f.stride) for f in model.feature_info]


def test_nin_paper_layout():
    model = create_backbone("nin", 10, options={"blocks": 4})
    assert _layout(model) == [("block1", 96, 2), ("block2", 192, 4), ("block3", 192, 4), ("block4", 192, 4)]
    assert isinstance(model.stem, torch.nn.Identity)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [5, 1, 1, 5, 1, 1, 3, 1, 1, 3, 1, 1]
    assert all(c.bias is None for c in convs)
    assert len(create_backbone("nin", 10, options={"blocks": 5}).feature_info) == 5
    assert torch.equal(model.get_classifier().bias, torch.zeros(10))


def test_nin_official_init_is_pytorch_0_2s_defaults():
    """init: official draws what the official code trained from (PyTorch 0.2's defaults):
    convs and the classifier U(+-1/sqrt(fan_in)), biases included, BatchNorm scales U(0, 1)."""
    torch.manual_seed(0)
    official = create_backbone("nin", 10, options={"width": 48, "init": "official"})
    torch.manual_seed(0)
    kaiming = create_backbone("nin", 10, options={"width": 48})
    for model, scheme in ((official, "official"), (kaiming, "kaiming")):
        bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        scales = torch.cat([b.weight.detach() for b in bns])
        assert all(torch.equal(b.bias, torch.zeros_like(b.bias)) for b in bns)
        if scheme == "official":
            assert 0 <= float(scales.min()) < 0.05 and 0.95 < float(scales.max()) < 1
            assert abs(float(scales.mean()) - 0.5) < 0.05  # 1,000+ draws of U(0, 1)
        else:
            assert torch.equal(scales, torch.ones_like(scales))
    for conv in (m for m in official.modules() if isinstance(m, torch.nn.Conv2d)):
        fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
        bound = 1 / math.sqrt(fan_in)
        assert float(conv.weight.abs().max()) <= bound
        assert abs(float(conv.weight.std()) - bound / math.sqrt(3)) < 0.1 * bound  # uniform, not kaiming-normal
    fc = official.get_classifier()
    assert float(fc.bias.abs().max()) > 0  # drawn, not zeroed
    assert float(fc.weight.abs().max()) <= 1 / math.sqrt(fc.in_features)
    official.reset_classifier(7)
    assert float(official.get_classifier().bias.abs().max()) > 0
