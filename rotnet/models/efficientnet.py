"""timm's EfficientNet-B0..B7, trained from scratch and adapted to small images.

Natively the stem and four stride-2 stages reduce 32x, so a 32x32 image ends at 1x1.
Two adaptations (option ``small_input``):

- ``"stride"``: the stem conv and the first stride-2 stage get stride 1, so the total
  reduction is 8x (32x32 ends at 4x4).
- ``"upsample"``: the input is resized bilinearly by ``upsample_size / 32`` before the
  stem (32x32 -> 128x128 by default) and timm's layout is kept.

Both cost ~15x the native 32x32 compute (B0: 0.12 vs 0.008 GMACs per image) and match from
stage2 on (32x32 maps for a 32x32 input); upsampling only runs the stem and stage1 at 64x64.

timm builds and initialises the whole network; its modules are then regrouped into the
backbone contract without touching a weight:

- ``stem``: the upsampling (if any), ``conv_stem`` and ``bn1``;
- ``stages``: timm's five reduction levels as ``stage1``..``stage5`` (each the timm block
  stages up to that level) and ``head`` (``conv_head`` + ``bn2``, before pooling);
- ``head``: global average pooling, dropout and timm's classifier.

``width_multiplier`` scales every variant's channels (its depth stays), for CPU demos and
tests; 1.0 is timm's model as registered.

Strides are relative to the backbone's input. Upsampled, the first maps can be finer than
the input (stage1 of B0 is 64x64 for a 32x32 input at 4x): a stride below 1 has no integer
form, so such a map is not exposed and its blocks run as part of the next stage.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

import timm
from timm.layers import Conv2dSame
from timm.models._efficientnet_builder import efficientnet_init_weights
from timm.models.efficientnet import _gen_efficientnet
from torch import nn

from rotnet.models.base import Backbone, ClassifierHead, FeatureInfo
from rotnet.models.options import EFFICIENTNET_REFERENCE_SIZE, EFFICIENTNET_VARIANTS, EfficientNetOptions

# Each variant's (channel, depth) multipliers (Tan & Le 2019; timm's efficientnet_b0..b7
# entry points hard-code the same values, and a test checks that they agree).
SCALING: dict[str, tuple[float, float]] = {
    "efficientnet_b0": (1.0, 1.0),
    "efficientnet_b1": (1.0, 1.1),
    "efficientnet_b2": (1.1, 1.2),
    "efficientnet_b3": (1.2, 1.4),
    "efficientnet_b4": (1.4, 1.8),
    "efficientnet_b5": (1.6, 2.2),
    "efficientnet_b6": (1.8, 2.6),
    "efficientnet_b7": (2.0, 3.1),
}


def timm_efficientnet(variant: str, width_multiplier: float = 1.0, **kwargs: object) -> nn.Module:
    """timm's model for ``variant``, its channels scaled by ``width_multiplier``. timm's entry
    points fix the multipliers (passing one is a TypeError), so a scaled model comes from the
    generator they call, with the variant's own depth."""
    if width_multiplier == 1.0:
        return timm.create_model(variant, pretrained=False, **kwargs)
    channels, depth = SCALING[variant]
    return _gen_efficientnet(
        variant, channel_multiplier=channels * width_multiplier, depth_multiplier=depth, pretrained=False, **kwargs
    )


def _set_stride_1(conv: nn.Conv2d) -> None:
    conv.stride = (1, 1)
    if not isinstance(conv, Conv2dSame):  # Conv2dSame pads dynamically from the stride
        # Symmetric "same" padding for stride 1 (timm's stride-2 padding happens to match for
        # odd kernels, but do not rely on it).
        conv.padding = tuple(d * (k - 1) // 2 for k, d in zip(conv.kernel_size, conv.dilation, strict=True))


def _stride(module: nn.Module) -> int:
    """Total spatial reduction of a module's convs (EfficientNet blocks have no pooling)."""
    out = 1
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            out *= m.stride[0]
    return out


def zero_last_norms(net: nn.Module) -> int:
    """Zero the scale of the last BatchNorm of every block with a skip connection, so that
    block starts as the identity; how many blocks. timm registers a block's BatchNorms in
    forward order (bn1, bn2[, bn3]), and its BatchNormAct2d is a BatchNorm2d."""
    count = 0
    for block in net.modules():
        if getattr(block, "has_skip", False):
            norms = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
            nn.init.zeros_(norms[-1].weight)
            count += 1
    return count


class EfficientNet(Backbone):
    def __init__(
        self,
        variant: str,
        num_classes: int,
        in_chans: int = 3,
        small_input: Literal["stride", "upsample"] = "stride",
        upsample_size: int = 128,
        width_multiplier: float = 1.0,
        drop_rate: float = 0.2,
        drop_path_rate: float = 0.0,
        head_init: Literal["timm", "zero"] = "timm",
        zero_init_last: bool = False,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.head_init = head_init
        net = timm_efficientnet(
            variant,
            width_multiplier,
            num_classes=num_classes,
            in_chans=in_chans,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
        )
        if zero_init_last:
            zero_last_norms(net)
        self.upsample_factor = upsample_size // EFFICIENTNET_REFERENCE_SIZE if small_input == "upsample" else 1
        if small_input == "stride":
            _set_stride_1(net.conv_stem)
            dws = (getattr(s[0], "conv_dw", None) for s in net.blocks)
            first = next((dw for dw in dws if dw is not None and dw.stride[0] == 2), None)
            if first is None:
                raise AssertionError(f"{variant}: no stage starts with a stride-2 depthwise conv")
            _set_stride_1(first)

        stem: list[nn.Module] = []
        if self.upsample_factor > 1:
            stem.append(nn.Upsample(scale_factor=self.upsample_factor, mode="bilinear", align_corners=False))
        self.stem = nn.Sequential(*stem, net.conv_stem, net.bn1)

        # timm's own feature levels ("blocks.i"), strides recomputed from the (adapted) convs.
        levels = {int(f["module"].split(".")[1]): f["num_chs"] for f in net.feature_info}
        stages: dict[str, nn.Module] = {}
        pending: list[nn.Module] = []  # timm block stages not yet part of an exposed stage
        stride = _stride(net.conv_stem)
        for i, blocks in enumerate(net.blocks):
            stride *= _stride(blocks)
            pending.append(blocks)
            if i not in levels:
                continue
            name = f"stage{sum(1 for j in levels if j <= i)}"
            if stride % self.upsample_factor == 0:
                stages[name] = nn.Sequential(*pending)
                pending = []
                self.feature_info.append(FeatureInfo(name, levels[i], stride // self.upsample_factor))
        stages["head"] = nn.Sequential(*pending, net.conv_head, net.bn2)
        self.feature_info.append(FeatureInfo("head", net.conv_head.out_channels, stride // self.upsample_factor))
        self.stages = nn.ModuleDict(stages)
        # timm's forward_head: global average pool, dropout, classifier (timm's Linear and init).
        self.head = ClassifierHead(net.classifier, drop_rate=drop_rate)
        if head_init == "zero":
            self.init_classifier(self.head.fc)

    def init_classifier(self, fc: nn.Linear) -> None:
        if self.head_init == "zero":  # every class equally likely at the start
            nn.init.zeros_(fc.weight)
            nn.init.zeros_(fc.bias)
        else:
            efficientnet_init_weights(fc)  # timm's EfficientNet init (uniform 1/sqrt(classes), zero bias)


def build_efficientnet(variant: str, opts: EfficientNetOptions, num_classes: int, in_chans: int = 3) -> EfficientNet:
    return EfficientNet(variant, num_classes, in_chans, **opts.model_dump())


BUILDERS: dict[str, Callable[..., EfficientNet]] = {
    variant: partial(build_efficientnet, variant) for variant in EFFICIENTNET_VARIANTS
}
