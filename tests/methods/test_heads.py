"""The heads: their layers and widths, and the same function as lightly's heads of those sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rotnet.errors import RotnetError
from rotnet.methods.heads import HeadSize, MLPHead
from rotnet.methods.recipes import BYOL, SIMCLR


def _shapes(module: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in module.parameters()]


def test_heads_have_the_recipes_widths():
    simclr = MLPHead(512, SIMCLR.projector)
    assert [type(m) for m in simclr] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d]
    assert simclr[0].bias is None and simclr[3].bias is None  # BatchNorm follows both
    byol = MLPHead(512, BYOL.projector)
    assert byol[3].bias is not None and byol[3].out_features == 256 and len(byol) == 4
    pred = MLPHead(BYOL.projector.out, BYOL.predictor)
    x = torch.randn(6, 512)
    assert simclr(x).shape == (6, 128) and pred(byol(x)).shape == (6, 256)


@pytest.mark.parametrize(
    ("size", "theirs", "widths"),
    [
        (SIMCLR.projector, "SimCLRProjectionHead", (512, 512, 128)),
        (BYOL.projector, "BYOLProjectionHead", (512, 1024, 256)),
        (BYOL.predictor, "BYOLPredictionHead", (256, 1024, 256)),
    ],
)
def test_heads_equal_lightlys_in_shape_and_function(size, theirs, widths):
    """lightly's cifar10_benchmark heads: same parameters in the same order, and with lightly's
    weights copied in, the same output in train and in eval mode."""
    heads = pytest.importorskip("lightly.models.modules.heads", reason="lightly (a test-only dependency)")
    torch.manual_seed(0)
    lightly_head = getattr(heads, theirs)(*widths)
    head = MLPHead(widths[0], size)
    assert _shapes(head) == _shapes(lightly_head)
    head.load_state_dict(dict(zip(head.state_dict(), lightly_head.state_dict().values(), strict=True)))
    x = torch.randn(8, head.in_features)
    for mode in (True, False):
        head.train(mode)
        lightly_head.train(mode)
        assert torch.allclose(head(x), lightly_head(x), atol=1e-6)


def test_bad_widths_are_named():
    with pytest.raises(RotnetError, match="head widths must be >= 1"):
        HeadSize(hidden=0, out=4, out_norm=False)
    with pytest.raises(RotnetError, match="input width"):
        MLPHead(0, SIMCLR.projector)
