"""EfficientNet (rotnet.models.efficientnet): timm's model, its small-input modes, its scaling and inits."""

from __future__ import annotations

import math

import pytest
import torch

from rotnet.errors import RotnetError
from rotnet.models.registry import create_backbone


def _layout(model) -> list[tuple[str, int, int]]:
    return [(f.name, f.channels, f.stride) for f in model.feature_info]


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
