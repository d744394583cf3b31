"""ResNets adapted to small images: a 3x3 stride-1 stem and no max-pool (the CIFAR stem).

The residual blocks are timm's; the stem and stage layout are built here so that the
width can be scaled for CPU demos and the stride stays 1 until stage 2. Depths 18 and 34
use BasicBlock, 50/101/152 the Bottleneck.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from timm.models.resnet import BasicBlock, Bottleneck
from torch import nn

from rotnet.models.base import Backbone, ClassifierHead, FeatureInfo
from rotnet.models.options import ResNetOptions


def _downsample(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(Backbone):
    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        depths: tuple[int, int, int, int],
        num_classes: int,
        in_chans: int = 3,
        width: int = 64,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        stages: dict[str, nn.Module] = {}
        cin = width
        for i, depth in enumerate(depths):
            planes, stride = width * 2**i, (1 if i == 0 else 2)
            cout = planes * block.expansion
            layers = [block(cin, planes, stride=stride, downsample=_downsample(cin, cout, stride))]
            layers += [block(cout, planes) for _ in range(depth - 1)]
            stages[f"layer{i + 1}"] = nn.Sequential(*layers)
            self.feature_info.append(FeatureInfo(f"layer{i + 1}", cout, 2**i))
            cin = cout
        self.stages = nn.ModuleDict(stages)
        self.head = ClassifierHead(nn.Linear(cin, num_classes))  # PyTorch's Linear init
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Zero-init the last BN of each residual branch so every block starts as identity.
        for m in self.modules():
            if isinstance(m, (BasicBlock, Bottleneck)):
                m.zero_init_last()


# The standard depths (He et al. 2016). Bottleneck stages output planes * 4 channels,
# so at width 64 ResNet-50 and deeper give 256/512/1024/2048 instead of 64/128/256/512.
LAYOUTS: dict[str, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
    "resnet152": (Bottleneck, (3, 8, 36, 3)),
}


def build_resnet(arch: str, opts: ResNetOptions, num_classes: int, in_chans: int = 3) -> ResNet:
    block, depths = LAYOUTS[arch]
    return ResNet(block, depths, num_classes, in_chans, width=opts.width)


BUILDERS: dict[str, Callable[..., ResNet]] = {arch: partial(build_resnet, arch) for arch in LAYOUTS}
