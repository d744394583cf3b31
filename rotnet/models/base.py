"""The one contract every backbone follows, in timm's terms.

A backbone is ``stem`` -> ``stages`` (one named feature map per stage) -> ``head``:

- ``forward_intermediates(x, upto=None)``: every stage's output by name, in order,
  stopping after stage ``upto`` (later stages do not run);
- ``forward_features(x)``: the last stage's output, the head's input;
- ``forward_head(features)``: logits; ``forward(x)`` is both in turn;
- ``get_classifier()`` / ``reset_classifier(n)``: the class-specific module, and a fresh
  one for ``n`` classes (fine-tuning).

``feature_info`` gives each map's name, channels and stride relative to the input.
Subclasses only build ``stem``, ``stages``, ``head``, ``feature_info`` and ``num_classes``
(and override ``init_classifier`` when their classifier is not PyTorch's default Linear);
the base class owns the forward loop. Probes, the report and tests only use this.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class FeatureInfo:
    name: str
    channels: int
    stride: int


class ClassifierHead(nn.Module):
    """Global average pooling, dropout (if ``drop_rate`` > 0), then the linear classifier
    ``fc``: the paper's, ResNet's and timm EfficientNet's head."""

    def __init__(self, fc: nn.Linear, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.drop_rate = drop_rate
        self.fc = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        if self.drop_rate > 0.0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return self.fc(x)


class Backbone(nn.Module):
    stem: nn.Module  # applied before the first stage (nn.Identity() when there is none)
    stages: nn.ModuleDict  # keys: the feature-map names, in order
    head: ClassifierHead
    feature_info: list[FeatureInfo]
    num_classes: int

    def __init__(self) -> None:
        super().__init__()
        self.feature_info = []

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.feature_info]

    def forward_intermediates(self, x: torch.Tensor, upto: str | None = None) -> dict[str, torch.Tensor]:
        """Each stage's output by name, in order; stop after stage ``upto`` if given."""
        if upto is not None and upto not in self.stages:
            raise ValueError(f"no feature map '{upto}'; this backbone has {', '.join(self.stages)}")
        x = self.stem(x)
        out = {}
        for name, stage in self.stages.items():
            x = stage(x)
            out[name] = x
            if name == upto:
                break
        return out

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's output (the input of ``forward_head``)."""
        x = self.stem(x)
        for stage in self.stages.values():
            x = stage(x)
        return x

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Map the last stage's output to logits."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The module holding the class-specific weights (what fine-tuning replaces)."""
        return self.head.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a fresh one with ``num_classes`` outputs, initialised as
        at construction; every other weight is kept."""
        old = self.head.fc
        fc = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
        self.init_classifier(fc)
        self.head.fc = fc.train(old.training)
        self.num_classes = num_classes

    def init_classifier(self, fc: nn.Linear) -> None:
        """Initialise a new classifier as the constructor does (default: PyTorch's Linear init)."""
