"""Heads on one feature map of a backbone, and a backbone cut at that map with a head.

Networks like the backbones (rotnet.models.saved rebuilds a fine-tuned file's from its
``cut``), so they live beside them; rotnet.probing trains them on frozen features.
"""

from __future__ import annotations

import torch
from torch import nn

from rotnet.models.base import Backbone
from rotnet.models.nin import nin_block


def official_init(head: nn.Module) -> nn.Module:
    """The official heads' initialisation (NonLinearClassifier.py): conv weights
    N(0, sqrt(2 / (k * k * out))), linear weights N(0, sqrt(2 / out_features)), biases 0,
    BN weight 1 and bias 0. PyTorch's defaults draw smaller weights for wide inputs."""
    for m in head.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")  # std sqrt(2 / fan_out)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return head


def nonlinear_head(in_features: int, num_classes: int, hidden: int = 200) -> nn.Module:
    """The paper's head: FC-BN-ReLU-FC-BN-ReLU-FC on the flattened feature map."""
    return official_init(
        nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_features, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )
    )


def linear_head(in_features: int, num_classes: int) -> nn.Module:
    """A linear classifier. The parameter-free BN standardises each feature, so one
    learning rate suits every layer's scale; at inference it is a fixed affine map."""
    return nn.Sequential(nn.Flatten(), nn.BatchNorm1d(in_features, affine=False), nn.Linear(in_features, num_classes))


def conv_head(in_channels: int, num_classes: int, width: int = 192) -> nn.Module:
    """The paper's conv head: a fresh, randomly initialised NIN block 3 (3x3, 1x1, 1x1
    convs at 192), global average pooling and a linear classifier."""
    return official_init(
        nn.Sequential(
            nin_block(in_channels, width, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)
        )
    )


def build_head(kind: str, shape: torch.Size, num_classes: int, hidden: int) -> nn.Module:
    """A head of ``kind`` for feature maps of ``shape`` (C, H, W)."""
    if kind == "nonlinear":
        return nonlinear_head(shape.numel(), num_classes, hidden)
    if kind == "linear":
        return linear_head(shape.numel(), num_classes)
    if kind == "conv":
        return conv_head(shape[0], num_classes)
    raise AssertionError(f"unhandled head {kind}")  # params validation lists the valid heads


class FeaturesWithHead(nn.Module):
    """A backbone's stem and stages up to map ``layer``, with a head on that map, trained as
    one. Later stages and the backbone's classifier are dropped, so every weight here is used."""

    def __init__(self, backbone: Backbone, layer: str, head: nn.Module) -> None:
        super().__init__()
        names = backbone.feature_names
        if layer not in names:
            raise ValueError(f"no feature map '{layer}'; this backbone has {', '.join(names)}")
        self.stem = backbone.stem
        self.stages = nn.ModuleDict({n: backbone.stages[n] for n in names[: names.index(layer) + 1]})
        self.layer, self.head = layer, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages.values():
            x = stage(x)
        return self.head(x)

    def get_classifier(self) -> nn.Module:
        return self.head


def with_head(
    backbone: Backbone, layer: str, kind: str, num_classes: int, shape: torch.Size, hidden: int = 200
) -> FeaturesWithHead:
    """The paper's fine-tuning setting: the backbone up to ``layer`` plus a fresh head of ``kind``
    on that map of ``shape`` (C, H, W)."""
    return FeaturesWithHead(backbone, layer, build_head(kind, shape, num_classes, hidden))


def with_conv_head(backbone: Backbone, layer: str, num_classes: int) -> FeaturesWithHead:
    """The paper's semi-supervised setting: the backbone up to ``layer`` plus a fresh conv head."""
    channels = next(f.channels for f in backbone.feature_info if f.name == layer)
    return FeaturesWithHead(backbone, layer, conv_head(channels, num_classes))
