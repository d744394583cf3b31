"""timm's EfficientNet-B0..B7, trained from scratch and adapted to small images.

Natively the stem and four stride-2 stages reduce 32x, so a 32x32 image ends at 1x1.
Two adaptations (option ``small_input``):

- ``"stride"``: the stem conv and the first stride-2 stage get stride 1, so the total
  reduction is 8x (32x32 ends at 4x4).
- ``"upsample"``: the input is resized bilinearly by ``upsample_size / 32`` before the
  stem (32x32 -> 128x128 by default) and timm's layout is kept.

Both cost ~15x the native 32x32 compute (B0: 0.12 vs 0.008 GMACs per image) and match from
stage2 on (32x32 maps for a 32x32 input); upsampling only runs the stem and stage1 at 64x64.

Feature maps: timm's five reduction levels as ``stage1``..``stage5`` and ``head`` (the
output of conv_head + bn2, before pooling). Strides are relative to the backbone's input.
"""

from __future__ import annotations

from typing import Literal

import timm
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from timm.layers import Conv2dSame
from torch import nn
from torch.nn import functional as F

from rotnet.models.base import Backbone, FeatureInfo
from rotnet.models.registry import register_backbone

_REFERENCE_SIZE = 32  # upsample_size is the side a 32x32 image is resized to


class EfficientNetOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    small_input: Literal["stride", "upsample"] = "stride"
    # Side a 32x32 image is resized to in "upsample" mode; other sizes are scaled by the same
    # factor. The factor must be a power of two so every kept map has an integer stride.
    upsample_size: int = Field(128, ge=_REFERENCE_SIZE, le=1024)  # 1024: the head at stride 1
    drop_rate: float = Field(0.2, ge=0.0, lt=1.0)  # dropout before the classifier (timm's B0 value)
    drop_path_rate: float = Field(0.0, ge=0.0, lt=1.0)  # stochastic depth

    @field_validator("upsample_size")
    @classmethod
    def _power_of_two_factor(cls, v: int) -> int:
        factor = v // _REFERENCE_SIZE
        if v % _REFERENCE_SIZE or factor & (factor - 1):
            raise ValueError("must be 32 times a power of two (32, 64, 128, ..., 1024)")
        return v


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


class EfficientNet(Backbone):
    def __init__(
        self,
        variant: str,
        num_classes: int,
        in_chans: int = 3,
        small_input: Literal["stride", "upsample"] = "stride",
        upsample_size: int = 128,
        drop_rate: float = 0.2,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.net = timm.create_model(
            variant,
            pretrained=False,
            num_classes=num_classes,
            in_chans=in_chans,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
        )
        self.upsample = upsample_size // _REFERENCE_SIZE if small_input == "upsample" else 1
        if small_input == "stride":
            _set_stride_1(self.net.conv_stem)
            dws = (getattr(s[0], "conv_dw", None) for s in self.net.blocks)
            first = next((dw for dw in dws if dw is not None and dw.stride[0] == 2), None)
            if first is None:
                raise AssertionError(f"{variant}: no stage starts with a stride-2 depthwise conv")
            _set_stride_1(first)

        # timm's own feature levels ("blocks.i"), strides recomputed from the (adapted) convs.
        levels = {int(f["module"].split(".")[1]): f["num_chs"] for f in self.net.feature_info}
        self._taps: dict[int, str] = {}
        stride = _stride(self.net.conv_stem)
        for i, stage in enumerate(self.net.blocks):
            stride *= _stride(stage)
            if i not in levels:
                continue
            name = f"stage{len(self._taps) + 1}"
            self._taps[i] = name
            # Upsampled, the first maps are finer than the input (stage1 of B0 is 64x64 for a
            # 32x32 input): a stride below 1 has no integer form, so such maps are not exposed.
            if stride % self.upsample == 0:
                self.feature_info.append(FeatureInfo(name, levels[i], stride // self.upsample))
        self.feature_info.append(FeatureInfo("head", self.net.conv_head.out_channels, stride // self.upsample))

    def forward_features(self, x: torch.Tensor, upto: str | None = None) -> dict[str, torch.Tensor]:
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="bilinear", align_corners=False)
        x = self.net.bn1(self.net.conv_stem(x))
        exposed = set(self.feature_names)
        out = {}
        for i, stage in enumerate(self.net.blocks):
            x = stage(x)
            name = self._taps.get(i)
            if name in exposed:
                out[name] = x
                if name == upto:
                    return out
        out["head"] = self.net.bn2(self.net.conv_head(x))
        return out

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(features)  # global pool, dropout, classifier

    def classifier(self) -> nn.Module:
        return self.net.classifier  # timm's final Linear: what fine-tuning replaces


def _register(variant: str) -> None:
    @register_backbone(variant, EfficientNetOptions)
    def build(opts: EfficientNetOptions, num_classes: int, in_chans: int = 3) -> EfficientNet:
        return EfficientNet(variant, num_classes, in_chans, **opts.model_dump())


for _i in range(8):
    _register(f"efficientnet_b{_i}")
