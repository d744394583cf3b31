"""The MLP heads on top of a backbone's pooled features: SimCLR's projector, BYOL's projector
and predictor. Each is Linear -> BatchNorm -> ReLU -> Linear (-> BatchNorm for SimCLR), a
linear layer followed by BatchNorm having no bias (BatchNorm's shift replaces it), as in
lightly's heads; sized by the recipes (rotnet.methods.recipes)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from rotnet.errors import RotnetError


@dataclass(frozen=True)
class HeadSize:
    hidden: int  # width of the hidden layer
    out: int  # width of the output
    out_norm: bool  # BatchNorm on the output (SimCLR's projector) or a biased output layer (BYOL's)

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.out < 1:
            raise RotnetError(f"head widths must be >= 1, got hidden {self.hidden}, out {self.out}")


class MLPHead(nn.Sequential):
    """Linear(in, hidden) - BN - ReLU - Linear(hidden, out) [- BN]."""

    def __init__(self, in_features: int, size: HeadSize) -> None:
        if in_features < 1:
            raise RotnetError(f"a head's input width must be >= 1, got {in_features}")
        layers: list[nn.Module] = [
            nn.Linear(in_features, size.hidden, bias=False),
            nn.BatchNorm1d(size.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(size.hidden, size.out, bias=not size.out_norm),
        ]
        if size.out_norm:
            layers.append(nn.BatchNorm1d(size.out))
        super().__init__(*layers)
        self.in_features, self.size = in_features, size
