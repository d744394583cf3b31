"""Probe heads that read one flattened feature map."""

from __future__ import annotations

from torch import nn


def nonlinear_head(in_features: int, num_classes: int, hidden: int = 200) -> nn.Module:
    """The paper's head: FC-BN-ReLU-FC-BN-ReLU-FC on the flattened feature map."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes),
    )


def linear_head(in_features: int, num_classes: int) -> nn.Module:
    """A linear classifier. The parameter-free BN standardises each feature, so one
    learning rate suits every layer's scale; at inference it is a fixed affine map."""
    return nn.Sequential(nn.Flatten(), nn.BatchNorm1d(in_features, affine=False), nn.Linear(in_features, num_classes))


def build_head(kind: str, in_features: int, num_classes: int, hidden: int) -> nn.Module:
    if kind == "nonlinear":
        return nonlinear_head(in_features, num_classes, hidden)
    if kind == "linear":
        return linear_head(in_features, num_classes)
    raise AssertionError(f"unhandled head {kind}")  # params validation lists the valid heads
