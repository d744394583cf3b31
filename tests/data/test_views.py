"""Two-view augmentation: per-sample parameters within their ranges, ops that match
torchvision's, seeded and resumable from the caller's generator, and ready to train on."""

from __future__ import annotations

import math

import pytest
import torch

from rotnet.data.views import ViewParams, apply_view, augment_view, crop_resize_flip, draw_view, two_views
from rotnet.errors import RotnetError

CPU = torch.device("cpu")
# Every op off: the identity view, to switch ops on one at a time.
PLAIN = ViewParams(scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_prob=0.0, jitter_prob=0.0, gray_prob=0.0)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(b: int = 16, c: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    # Smooth images (a blocky pattern upsampled) so crops and flips change them visibly.
    small = torch.randint(0, 256, (b, c, size // 4, size // 4), generator=_gen(seed), dtype=torch.uint8)
    return small.repeat_interleave(4, 2).repeat_interleave(4, 3)


def test_two_views_are_normalised_float_batches_and_differ():
    x = _images()
    mean, std = torch.tensor([0.5, 0.4, 0.3]), torch.tensor([0.2, 0.25, 0.3])
    v0, v1 = two_views(x, (ViewParams(), ViewParams(solarize_prob=0.2)), mean, std, _gen())
    assert v0.shape == v1.shape == x.shape and v0.dtype == v1.dtype == torch.float32 and v0.device == x.device
    lo, hi = (((bound - mean) / std).view(1, 3, 1, 1) for bound in (0, 1))
    assert torch.isfinite(v0).all() and (v0 >= lo - 1e-5).all() and (v0 <= hi + 1e-5).all()
    # Each image's two views differ, and differ from the image itself.
    per_image = (v0 - v1).abs().flatten(1).amax(1)
    assert (per_image > 0.1).all()
    cl, _ = two_views(x, (PLAIN, PLAIN), mean, std, _gen(), channels_last=True)
    assert cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(cl, (x.float() / 255 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1), atol=1e-5)


def test_every_parameter_stays_in_its_range():
    cfg = ViewParams(scale=(0.2, 0.9), ratio=(0.5, 2.0), brightness=0.8, contrast=0.3, saturation=1.2, hue=0.2)
    b, h, w = 4096, 32, 24
    d = draw_view(b, h, w, cfg, CPU, _gen())
    assert not d.fallback.any()  # these ranges always fit within 10 trials at this seed
    assert ((d.area >= 0.2) & (d.area <= 0.9)).all() and d.area.std() > 0.15
    assert ((d.aspect >= 0.5 - 1e-6) & (d.aspect <= 2.0 + 1e-6)).all()
    top, left, ch, cw = d.box.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + ch <= h).all() and (left + cw <= w).all()
    assert len(set(top.tolist())) > 10 and len(set(left.tolist())) > 10  # offsets spread
    # The box is the target rounded, as torchvision's get_params makes it.
    assert torch.equal(cw, torch.round(torch.sqrt(d.area * h * w * d.aspect)).long())
    assert torch.equal(ch, torch.round(torch.sqrt(d.area * h * w / d.aspect)).long())
    # The pixel box's area fraction is within the scale range up to the rounding of its sides.
    frac = (ch * cw).double() / (h * w)
    slack = (ch + cw + 1).double() / (h * w)
    assert (frac >= 0.2 - slack).all() and (frac <= 0.9 + slack).all()
    lo = torch.tensor([0.2, 0.7, 0.0, -0.2])
    hi = torch.tensor([1.8, 1.3, 2.2, 0.2])
    assert ((d.factors >= lo) & (d.factors <= hi)).all()
    assert (d.factors.amin(0) < lo + 0.05).all() and (d.factors.amax(0) > hi - 0.05).all()  # the whole range
    assert torch.equal(d.order.sort(1).values, torch.arange(4).expand(b, 4))  # a permutation each
    assert len({tuple(r) for r in d.order.tolist()}) == 24  # every order occurs
    for drawn, p in ((d.flip, 0.5), (d.jitter, 0.8), (d.gray, 0.2), (d.solarize, 0.0)):
        assert abs(drawn.float().mean().item() - p) < 0.03


def test_no_fitting_trial_falls_back_to_torchvisions_centre_crop():
    cfg = ViewParams(scale=(1.0, 1.0), ratio=(2.0, 3.0))
    d = draw_view(8, 32, 32, cfg, CPU, _gen())
    assert d.fallback.all()
    # Square image, aspect below the range: full width, height width / 2, centred.
    assert d.box.tolist() == [[8, 0, 16, 32]] * 8


def test_the_same_generator_state_gives_the_same_views_and_resumes():
    x = _images(4, size=16)
    views = (ViewParams(), ViewParams(solarize_prob=0.5))
    mean, std = torch.zeros(3), torch.ones(3)
    first = two_views(x, views, mean, std, _gen(3))
    again = two_views(x, views, mean, std, _gen(3))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], two_views(x, views, mean, std, _gen(4))[0])
    # Resuming from a saved state redraws exactly the batch an uninterrupted run would.
    gen = _gen(5)
    two_views(x, views, mean, std, gen)
    state = gen.get_state()
    second = two_views(x, views, mean, std, gen)
    resumed = torch.Generator()
    resumed.set_state(state)
    assert all(torch.equal(a, b) for a, b in zip(second, two_views(x, views, mean, std, resumed), strict=True))
    # The global generator is left alone.
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    two_views(x, views, mean, std, _gen())
    assert torch.equal(torch.rand(3), expected)


def test_a_flip_flips_and_the_full_box_is_the_image():
    x = _images(4)
    same, _ = augment_view(x, PLAIN, _gen())
    assert torch.allclose(same * 255, x.float(), atol=1e-3)
    flipped, d = augment_view(x, ViewParams(**{**vars(PLAIN), "flip_prob": 1.0}), _gen())
    assert d.flip.all() and torch.allclose(flipped * 255, x.flip(3).float(), atol=1e-3)


def test_the_crop_matches_torchvisions_resized_crop_inside_the_box():
    import torchvision.transforms.v2.functional as TF

    x = torch.randint(0, 256, (6, 3, 32, 32), generator=_gen(1), dtype=torch.uint8)
    boxes = torch.tensor(
        [[0, 0, 16, 16], [5, 9, 20, 17], [0, 3, 32, 29], [16, 16, 16, 16], [2, 0, 30, 24], [0, 0, 32, 32]]
    )
    out = crop_resize_flip(x, boxes, torch.zeros(6, dtype=torch.bool))
    for i, (top, left, h, w) in enumerate(boxes.tolist()):
        ref = TF.resized_crop(x[i].float(), top, left, h, w, [32, 32], antialias=False)
        # Bilinear taps of the outermost output pixels reach past the box (see crop_resize_flip).
        assert torch.allclose(out[i, :, 1:-1, 1:-1], ref[:, 1:-1, 1:-1], atol=1e-3), i


def test_colour_jitter_is_torchvisions_ops_in_the_drawn_order():
    import torchvision.transforms.v2.functional as TF

    x = _images(24, seed=2)
    strong = {"jitter_prob": 1.0, "brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "hue": 0.5}
    cfg = ViewParams(**{**vars(PLAIN), **strong})
    out, d = augment_view(x, cfg, _gen(7))
    ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    for i in range(len(x)):
        ref = x[i].float() / 255
        for op in d.order[i].tolist():
            ref = ops[op](ref, float(d.factors[i, op]))
        # Grays weigh red 0.299 as PIL does (lightly jitters PIL images); torchvision's tensors 0.2989.
        assert torch.allclose(out[i], ref, atol=2e-4), i
        assert d.jitter[i] and (out[i] - x[i] / 255).abs().max() > 0.02, i
    # Without jitter (probability 0), nothing changes colour.
    off, d = augment_view(x, PLAIN, _gen(7))
    assert not d.jitter.any() and torch.allclose(off * 255, x.float(), atol=1e-3)


def test_grayscale_gives_equal_channels_and_solarize_inverts_the_bright():
    x = _images(8)
    gray, _ = augment_view(x, ViewParams(**{**vars(PLAIN), "gray_prob": 1.0}), _gen())
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).float() / 255
    assert torch.allclose(gray[:, 0], luma, atol=1e-4)
    solar, d = augment_view(x, ViewParams(**{**vars(PLAIN), "solarize_prob": 1.0}), _gen())
    y = x.float() / 255
    assert d.solarize.all() and torch.allclose(solar, torch.where(x >= 128, 1 - y, y), atol=1e-5)


def test_one_channel_images_take_crops_flips_brightness_and_contrast():
    x = _images(8, c=1)
    out, d = augment_view(x, ViewParams(jitter_prob=1.0), _gen())
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    ref = apply_view(x, d, ViewParams())
    assert torch.equal(out, ref)  # apply_view alone redoes a view from its draw


def test_bad_input_is_named():
    with pytest.raises(RotnetError, match="scale must satisfy"):
        ViewParams(scale=(0.0, 1.0))
    with pytest.raises(RotnetError, match="gray_prob is a probability"):
        ViewParams(gray_prob=1.5)
    with pytest.raises(RotnetError, match="hue is a shift in turns"):
        ViewParams(hue=0.7)
    with pytest.raises(RotnetError, match="views need a uint8 batch"):
        augment_view(torch.zeros(2, 3, 8, 8), ViewParams(), _gen())
    assert math.isclose(ViewParams().solarize_threshold * 255, 128)
