"""The recipes as lightly's cifar10_benchmark.py gives them, and as lightly 1.6.0's transforms
read the arguments it passes them."""

from __future__ import annotations

import pytest

from rotnet.data.views import ViewParams
from rotnet.methods.recipes import BYOL, RECIPES, SIMCLR, OptimRecipe


def test_the_benchmarks_numbers():
    assert OptimRecipe().lr(512) == pytest.approx(0.24) and OptimRecipe().lr(128) == pytest.approx(0.06)
    assert SIMCLR.temperature == 0.5 and (SIMCLR.projector.hidden, SIMCLR.projector.out) == (512, 128)
    assert (BYOL.projector.hidden, BYOL.projector.out, BYOL.predictor.out) == (1024, 256, 256)
    assert BYOL.momentum_start == BYOL.momentum_end == 0.99
    assert set(RECIPES) == {"simclr", "byol"}
    # Solarization on BYOL's second view only.
    assert [v.solarize_prob for v in BYOL.views] == [0.0, 0.2] and SIMCLR.views[0].solarize_prob == 0.0


def _lightly_view(transform) -> ViewParams:
    """A ViewParams read off a lightly view transform's torchvision pipeline."""
    steps = {type(t).__name__: t for t in transform.transform.transforms}
    crop, jitter = steps["RandomResizedCrop"], steps["RandomApply"]
    cj = jitter.transforms[0]
    solar = steps.get("RandomSolarization")
    assert type(cj).__name__ == "ColorJitter" and steps["GaussianBlur"].prob == 0.0  # no blur on CIFAR
    return ViewParams(
        scale=tuple(crop.scale),
        ratio=tuple(crop.ratio),
        flip_prob=steps["RandomHorizontalFlip"].p,
        jitter_prob=jitter.p,
        brightness=cj.brightness[1] - 1,
        contrast=cj.contrast[1] - 1,
        saturation=cj.saturation[1] - 1,
        hue=cj.hue[1],
        gray_prob=steps["RandomGrayscale"].p,
        solarize_prob=solar.prob if solar else 0.0,
        solarize_threshold=(solar.threshold if solar else 128) / 255,
    )


def test_views_are_lightlys_transforms_with_the_benchmarks_arguments():
    transforms = pytest.importorskip("lightly.transforms", reason="lightly (a test-only dependency)")
    simclr = transforms.SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0)
    byol = transforms.BYOLTransform(
        view_1_transform=transforms.BYOLView1Transform(input_size=32, gaussian_blur=0.0),
        view_2_transform=transforms.BYOLView2Transform(input_size=32, gaussian_blur=0.0),
    )

    def close(a: ViewParams, b: ViewParams) -> bool:
        return all(x == pytest.approx(y) for x, y in zip(vars(a).values(), vars(b).values(), strict=True))

    assert all(close(v, _lightly_view(t)) for v, t in zip(SIMCLR.views, simclr.transforms, strict=True))
    assert all(close(v, _lightly_view(t)) for v, t in zip(BYOL.views, byol.transforms, strict=True))
