"""The one contract every backbone follows.

A backbone maps images to logits (``forward``) and exposes the output of each of
its blocks (``forward_features``), described by ``feature_info``: name, channels
and stride relative to the input. Probes, the report and tests only use this.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class FeatureInfo:
    name: str
    channels: int
    stride: int


class Backbone(nn.Module):
    feature_info: list[FeatureInfo]

    def __init__(self) -> None:
        super().__init__()
        self.feature_info = []

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.feature_info]

    def forward_features(self, x: torch.Tensor, upto: str | None = None) -> dict[str, torch.Tensor]:
        """Return each block's output by name, in order; stop after block ``upto`` if given."""
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Map the last block's output to logits."""
        raise NotImplementedError

    def classifier(self) -> nn.Module:
        """The module holding the class-specific weights (replaced when fine-tuning)."""
        return self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.forward_features(x)
        return self.forward_head(feats[self.feature_info[-1].name])


class GlobalPoolLinear(nn.Module):
    """Global average pooling then a linear classifier: the paper's and ResNet's head."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
