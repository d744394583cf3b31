"""Head networks and a backbone cut at a map with a head (rotnet.models.heads)."""

import torch

from rotnet.models.heads import build_head, with_conv_head
from rotnet.models.registry import create_backbone


def test_conv_head_is_a_fresh_nin_block_on_block2():
    head = build_head("conv", torch.Size([192, 8, 8]), 10, 200)
    convs = [m for m in head.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [3, 1, 1] and all(c.out_channels == 192 for c in convs)
    assert head(torch.randn(2, 192, 8, 8)).shape == (2, 10)


def test_semisup_rotnet_model_starts_from_the_pretrained_blocks():
    pretrained = create_backbone("nin", 4, options={"width": 16})
    model = with_conv_head(pretrained, "block2", 10)
    # Fine-tuned in place, not re-initialised; the blocks after block 2 are dropped.
    assert model.stem is pretrained.stem and list(model.stages) == ["block1", "block2"]
    assert model.stages["block2"] is pretrained.stages["block2"]
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    convs = [m for m in model.head.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [3, 1, 1] and convs[0].in_channels == 16


def test_heads_start_as_the_official_code_initialises_them():
    torch.manual_seed(0)
    head = build_head("nonlinear", torch.Size([192, 8, 8]), 10, 200)
    first, last = head[1], head[-1]
    # Linear weights ~ N(0, sqrt(2 / out_features)), biases 0 (PyTorch's default would be ~U(+-1/sqrt(in))).
    assert abs(first.weight.std().item() - (2 / 200) ** 0.5) < 0.01
    assert abs(last.weight.std().item() - (2 / 10) ** 0.5) < 0.1 and not last.bias.any()
    conv = build_head("conv", torch.Size([192, 8, 8]), 10, 200)[0][0]
    assert abs(conv.weight.std().item() - (2 / (3 * 3 * 192)) ** 0.5) < 0.005
