"""The paper's Network-In-Network backbone (Gidaris et al. 2018, official code layout).

Every conv is conv (no bias) + BN + ReLU. Block 1 ends in a 3/2/1 max-pool, block 2
in a 3/2/1 average pool; blocks 3 and later keep the 8x8 resolution.
"""

from __future__ import annotations

from torch import nn

from rotnet.models.base import Backbone, ClassifierHead, FeatureInfo
from rotnet.models.options import NinOptions


def _conv(cin: int, cout: int, k: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=(k - 1) // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def nin_block(cin: int, width: int, k: int) -> nn.Sequential:
    """A k x k conv then two 1x1 convs, all at ``width`` channels (blocks 3 and later)."""
    return nn.Sequential(*_conv(cin, width, k), *_conv(width, width, 1), *_conv(width, width, 1))


class NIN(Backbone):
    def __init__(
        self, num_classes: int, in_chans: int = 3, blocks: int = 4, width: int = 192, init: str = "kaiming"
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        w, w160, w96 = width, width * 5 // 6, width // 2
        layers = [
            nn.Sequential(*_conv(in_chans, w, 5), *_conv(w, w160, 1), *_conv(w160, w96, 1), nn.MaxPool2d(3, 2, 1)),
            nn.Sequential(*_conv(w96, w, 5), *_conv(w, w, 1), *_conv(w, w, 1), nn.AvgPool2d(3, 2, 1)),
        ]
        layers += [nin_block(w, w, 3) for _ in range(blocks - 2)]
        self.stem = nn.Identity()
        self.stages = nn.ModuleDict({f"block{i + 1}": layer for i, layer in enumerate(layers)})
        self.feature_info = [FeatureInfo("block1", w96, 2), FeatureInfo("block2", w, 4)] + [
            FeatureInfo(f"block{i + 1}", w, 4) for i in range(2, blocks)
        ]
        self.head = ClassifierHead(nn.Linear(w, num_classes))
        self.init_scheme = init
        if init == "official":
            # PyTorch 0.2's defaults (NinOptions.init): today's conv and linear defaults, and
            # BatchNorm scales drawn from U(0, 1) instead of 1 (their shifts stay 0).
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    nn.init.uniform_(m.weight, 0.0, 1.0)
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.init_classifier(self.head.fc)

    def init_classifier(self, fc: nn.Linear) -> None:
        if self.init_scheme == "official":
            fc.reset_parameters()  # PyTorch's Linear init, bias included (as 0.2 drew it)
        else:
            nn.init.zeros_(fc.bias)  # weights: PyTorch's Linear init


def build_nin(opts: NinOptions, num_classes: int, in_chans: int = 3) -> NIN:
    return NIN(num_classes, in_chans, blocks=opts.blocks, width=opts.width, init=opts.init)
