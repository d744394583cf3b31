"""What each backbone family builds: layouts, strides, EfficientNet's small-input modes."""

from __future__ import annotations

import math

import pytest
import torch

from rotnet.errors import RotnetError
from rotnet.models.registry import create_backbone


def _layout(model) -> list[tuple[str, int, int]]:
    return [(f.name, f.channels, f.stride) for f in model.feature_info]


@pytest.mark.parametrize("in_chans,size", [(3, 32), (1, 28)])
@pytest.mark.parametrize(
    "name,options",
    [
        ("nin", {"width": 16}),
        ("resnet18", {"width": 8}),
        ("resnet50", {"width": 4}),
        ("efficientnet_b0", None),
        ("efficientnet_b0", {"small_input": "upsample"}),
        ("efficientnet_b0", {"small_input": "upsample", "upsample_size": 64}),
    ],
)
@torch.no_grad()
def test_map_sizes_round_up_for_odd_inputs(name, options, in_chans, size):
    model = create_backbone(name, 5, in_chans, options=options).eval()
    feats = model.forward_intermediates(torch.randn(2, in_chans, size, size))
    for info in model.feature_info:
        assert feats[info.name].shape == (2, info.channels, *(2 * (-(-size // info.stride),))), info  # ceil
    assert model(torch.randn(2, in_chans, size, size)).shape == (2, 5)


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


def test_resnet18_has_the_cifar_stem():
    model = create_backbone("resnet18", 10)
    assert model.stem[0].kernel_size == (3, 3) and model.stem[0].stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert [f.channels for f in model.feature_info] == [64, 128, 256, 512]


def test_resnet_zoo_layouts():
    def blocks(name: str) -> list[int]:
        return [len(stage) for stage in create_backbone(name, 10, options={"width": 4}).stages.values()]

    assert blocks("resnet18") == [2, 2, 2, 2]
    assert blocks("resnet34") == [3, 4, 6, 3]
    assert blocks("resnet50") == [3, 4, 6, 3]
    assert blocks("resnet101") == [3, 4, 23, 3]
    assert blocks("resnet152") == [3, 8, 36, 3]
    model = create_backbone("resnet50", 10)
    assert [(f.channels, f.stride) for f in model.feature_info] == [(256, 1), (512, 2), (1024, 4), (2048, 8)]
    assert type(model.stages["layer1"][0]).__name__ == "Bottleneck"
    assert [f.channels for f in create_backbone("resnet34", 10).feature_info] == [64, 128, 256, 512]


@torch.no_grad()
def test_efficientnet_small_input_modes_end_at_4x4():
    x = torch.randn(2, 3, 32, 32)
    strided = create_backbone("efficientnet_b0", 10).eval()
    # Stem and the first stride-2 stage at stride 1: 8x in total instead of 32x.
    assert [type(m).__name__ for m in strided.stem] == ["Conv2d", "BatchNormAct2d"]  # no upsampling
    assert strided.stem[0].stride == (1, 1) and strided.stages["stage2"][0][0].conv_dw.stride == (1, 1)
    assert _layout(strided) == [
        ("stage1", 16, 1),
        ("stage2", 24, 1),
        ("stage3", 40, 2),
        ("stage4", 112, 4),
        ("stage5", 320, 8),
        ("head", 1280, 8),
    ]
    assert strided.forward_features(x).shape == (2, 1280, 4, 4)
    # timm's 7 block stages grouped at its 5 feature levels, conv_head + bn2 as "head".
    assert [len(s) for s in strided.stages.values()] == [1, 1, 1, 2, 2, 2]

    upsampled = create_backbone("efficientnet_b0", 10, options={"small_input": "upsample"}).eval()
    assert isinstance(upsampled.stem[0], torch.nn.Upsample) and upsampled.stem[0].scale_factor == 4
    assert upsampled.stem[1].stride == (2, 2)  # timm's native layout
    feats = upsampled.forward_intermediates(x)
    # 32 -> 128 -> timm's 32x: 4x4. stage1 (64x64, stride 1/2 of the input) has no integer
    # stride: it is not exposed and runs as part of stage2.
    assert [(f.name, f.stride) for f in upsampled.feature_info] == [
        ("stage2", 1),
        ("stage3", 2),
        ("stage4", 4),
        ("stage5", 8),
        ("head", 8),
    ]
    assert list(upsampled.stages) == upsampled.feature_names and len(upsampled.stages["stage2"]) == 2
    assert feats["stage2"].shape == (2, 24, 32, 32)
    assert feats["stage5"].shape == (2, 320, 4, 4) and feats["head"].shape == (2, 1280, 4, 4)
    # At 2x (64) stage1 is input-sized again and exposed; the head ends at 2x2 (stride 16).
    twice = create_backbone("efficientnet_b0", 10, options={"small_input": "upsample", "upsample_size": 64})
    assert [(f.name, f.stride) for f in twice.feature_info][::5] == [("stage1", 1), ("head", 16)]
    assert twice.eval().forward_features(x).shape == (2, 1280, 2, 2)


def test_efficientnet_is_timms_model():
    model = create_backbone("efficientnet_b0", 10, options={"drop_rate": 0.3, "drop_path_rate": 0.1})
    params = sum(p.numel() for p in model.parameters())
    assert params == 4_020_358  # timm's B0 with a 10-class head
    assert model.head.drop_rate == 0.3
    assert create_backbone("efficientnet_b0", 10).head.drop_rate == 0.2
    assert any(type(m).__name__ == "DropPath" for m in model.modules())
    assert create_backbone("efficientnet_b3", 10).feature_info[-1].channels == 1536


def test_efficientnet_dropout_is_active_in_training_only():
    model = create_backbone("efficientnet_b0", 3, options={"drop_rate": 0.5})
    features = torch.randn(4, 1280, 2, 2)
    model.eval()
    assert torch.equal(model.forward_head(features), model.forward_head(features))
    model.train()
    assert not torch.equal(model.forward_head(features), model.forward_head(features))


@pytest.mark.parametrize(
    "name,options", [("nin", {"width": 16}), ("resnet18", {"width": 8}), ("efficientnet_b0", None)]
)
def test_reset_classifier_initialises_like_the_constructor(name, options):
    torch.manual_seed(0)
    built = create_backbone(name, 7, options=options).get_classifier()
    model = create_backbone(name, 3, options=options)
    model.reset_classifier(7)
    new = model.get_classifier()
    assert type(new) is type(built) and new.weight.shape == built.weight.shape
    # Uniform inits: PyTorch's Linear (bound 1/sqrt(fan_in)), timm's EfficientNet (1/sqrt(fan_out)).
    bound = 1 / math.sqrt(7 if name.startswith("efficientnet") else built.in_features)
    for fc in (built, new):
        assert fc.weight.abs().max() <= bound and fc.weight.abs().max() > 0.8 * bound
    assert torch.equal(new.bias == 0, built.bias == 0)  # both zero (NIN, EfficientNet) or both drawn
    assert bool((new.bias == 0).all()) == (name != "resnet18")


def test_unknown_backbone_lists_the_valid_names():
    with pytest.raises(RotnetError, match="unknown backbone 'vgg'.*nin.*resnet18"):
        create_backbone("vgg", 10)


def test_bad_backbone_option_names_the_option():
    with pytest.raises(RotnetError, match="blocks"):
        create_backbone("nin", 10, options={"blocks": 9})
    with pytest.raises(RotnetError, match="depth"):
        create_backbone("resnet18", 10, options={"depth": 3})


def test_efficientnet_options_are_checked():
    with pytest.raises(RotnetError, match="small_input"):
        create_backbone("efficientnet_b0", 10, options={"small_input": "crop"})
    with pytest.raises(RotnetError, match="upsample_size.*power of two"):
        create_backbone("efficientnet_b0", 10, options={"upsample_size": 96})
    with pytest.raises(RotnetError, match="upsample_size"):
        create_backbone("efficientnet_b0", 10, options={"upsample_size": 16})
    with pytest.raises(RotnetError, match="width"):
        create_backbone("efficientnet_b2", 10, options={"width": 8})


def test_efficientnet_zero_head_starts_at_chance():
    """head_init: zero: every class equally likely before training (timm's init scales as
    1/sqrt(classes) and starts far above chance on few classes)."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 0])
    for init, at_chance in (("zero", True), ("timm", False)):
        model = create_backbone("efficientnet_b0", 3, options={"small_input": "stride", "head_init": init}).eval()
        with torch.no_grad():
            loss = float(F.cross_entropy(model(x), y))
        assert (abs(loss - math.log(3)) < 1e-6) == at_chance, (init, loss)
    model.reset_classifier(5)  # a fresh classifier gets the same init as at construction
    zero = create_backbone("efficientnet_b0", 3, options={"small_input": "stride", "head_init": "zero"})
    zero.reset_classifier(5)
    assert not zero.get_classifier().weight.any() and model.get_classifier().weight.any()


def test_efficientnet_zero_init_last_starts_every_residual_block_as_the_identity():
    """zero_init_last: a deep variant starts as shallow as its blocks without a skip. B1 has
    both block types with skips (depthwise-separable and inverted residual)."""
    from timm.models._efficientnet_blocks import DepthwiseSeparableConv, InvertedResidual

    torch.manual_seed(0)
    for zero in (True, False):
        options = {"width_multiplier": 0.25, "drop_path_rate": 0.2, "zero_init_last": zero}
        model = create_backbone("efficientnet_b1", 4, options=options).eval()
        skips = [m for m in model.modules() if getattr(m, "has_skip", False)]
        assert {type(m) for m in skips} == {DepthwiseSeparableConv, InvertedResidual}
        assert len(skips) >= 16  # of B1's 23 blocks, one per stage has no skip (17 at this width)
        with torch.no_grad():
            for block in skips:
                x = torch.randn(
                    2,
                    block.conv_pw.in_channels if isinstance(block, InvertedResidual) else block.conv_dw.in_channels,
                    8,
                    8,
                )
                assert torch.allclose(block(x), x) == zero, (type(block).__name__, zero)


def test_efficientnet_scaling_table_matches_timms_variants():
    """width_multiplier builds through timm's generator with the table's multipliers: at 1.0
    they must give exactly timm's B0..B7 (built on the meta device: shapes, no memory)."""
    import timm
    from timm.models.efficientnet import _gen_efficientnet

    from rotnet.models.efficientnet import SCALING
    from rotnet.models.options import EFFICIENTNET_VARIANTS

    assert set(SCALING) == set(EFFICIENTNET_VARIANTS)
    for variant, (channels, depth) in SCALING.items():
        with torch.device("meta"):
            ours = _gen_efficientnet(variant, channel_multiplier=channels, depth_multiplier=depth, num_classes=3)
            theirs = timm.create_model(variant, num_classes=3)
        shapes = {k: v.shape for k, v in ours.state_dict().items()}
        assert shapes == {k: v.shape for k, v in theirs.state_dict().items()}, variant


def test_efficientnet_width_multiplier_scales_channels_not_depth():
    full = create_backbone("efficientnet_b3", 4)
    half = create_backbone("efficientnet_b3", 4, options={"width_multiplier": 0.5, "small_input": "stride"})
    assert [f.name for f in half.feature_info] == [f.name for f in full.feature_info]
    for a, b in zip(half.feature_info, full.feature_info, strict=True):
        assert a.stride == b.stride and a.channels < b.channels
    blocks = [sum(1 for _ in s.modules() if type(_).__name__ == "InvertedResidual") for s in (half, full)]
    assert blocks[0] == blocks[1] > 0  # B3's depth (its 1.4 depth multiplier) is kept
    assert sum(p.numel() for p in half.parameters()) < 0.4 * sum(p.numel() for p in full.parameters())
    with torch.no_grad():
        assert half.eval()(torch.randn(2, 3, 16, 16)).shape == (2, 4)
    with pytest.raises(RotnetError, match="width_multiplier"):
        create_backbone("efficientnet_b0", 4, options={"width_multiplier": 0})
