import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from rotnet.data import augment
from rotnet.data.augment import (
    _CIFAR10_POLICY,
    _autoaugment_plan,
    augment_batch,
    autoaugment_cifar10,
    cutmix,
    random_crop,
    random_flip,
    random_resized_crop,
)
from rotnet.params import AugmentParams


def _batch(b=6, c=3, h=8, w=8):
    return torch.randint(0, 256, (b, c, h, w), dtype=torch.uint8)


def test_random_crop_is_a_window_of_the_zero_padded_image_per_sample():
    x = _batch(b=32)
    gen = torch.Generator().manual_seed(0)
    out = random_crop(x, 4, gen)
    padded = F.pad(x, (4, 4, 4, 4))
    offsets = set()
    for i in range(len(x)):
        hits = [
            (dy, dx)
            for dy in range(9)
            for dx in range(9)
            if torch.equal(out[i], padded[i, :, dy : dy + 8, dx : dx + 8])
        ]
        assert hits, f"sample {i} is not a crop of its own padded image"
        offsets.add(hits[0])
    assert len(offsets) > 5  # offsets are drawn per sample, not once per batch
    assert out.dtype == torch.uint8


def test_random_flip_mirrors_some_samples_and_keeps_others():
    x = _batch(b=64)
    out = random_flip(x, torch.Generator().manual_seed(1))
    flipped = [torch.equal(out[i], x[i].flip(2)) for i in range(64)]
    kept = [torch.equal(out[i], x[i]) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept, strict=False))
    assert 10 < sum(flipped) < 54


# --- random resized crop ---------------------------------------------------------------


def test_resized_crop_keeps_shape_and_dtype():
    for shape in [(5, 3, 32, 32), (5, 1, 24, 40)]:
        x = torch.randint(0, 256, shape, dtype=torch.uint8)
        out = random_resized_crop(x, (0.2, 1.0), torch.Generator().manual_seed(0))
        assert out.shape == x.shape and out.dtype == torch.uint8


def test_resized_crop_of_the_whole_image_is_identity():
    x = _batch(b=8, h=16, w=16)
    out = random_resized_crop(x, (1.0, 1.0), torch.Generator().manual_seed(0), ratio=(1.0, 1.0))
    assert torch.equal(out, x)


def test_resized_crop_with_small_scale_zooms_in():
    # A bright 8x8 square in a dark 32x32 image; quarter-area (16x16) crops show it at twice the side
    # (about 256 bright pixels) when the crop holds it, and never more than that, and part of it otherwise.
    x = torch.zeros(64, 1, 32, 32, dtype=torch.uint8)
    x[:, :, 12:20, 12:20] = 255
    out = random_resized_crop(x, (0.25, 0.25), torch.Generator().manual_seed(0), ratio=(1.0, 1.0))
    bright = (out > 127).flatten(1).sum(1)
    assert 220 <= int(bright.max()) <= 290
    assert int(bright.min()) < 150  # some crops hold only a corner or an edge of the square


def test_resized_crop_differs_per_sample():
    x = _batch(b=1, h=16, w=16).expand(32, -1, -1, -1)
    out = random_resized_crop(x, (0.3, 0.8), torch.Generator().manual_seed(0))
    assert len({tuple(o.flatten().tolist()) for o in out}) == 32


# --- AutoAugment -----------------------------------------------------------------------


def _torchvision_autoaugment(x, plan):
    """Apply, image by image, the ops the plan chose, through torchvision's own AutoAugment code."""
    aa = v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10)
    h, w = x.shape[-2:]
    out = []
    for i in range(len(x)):
        img = x[i : i + 1]
        for key, ops in plan:
            k = int(key[i])
            if k < 0:
                continue
            op, bin_ = ops[k // 2]
            table, signed = aa._AUGMENTATION_SPACE[op]
            mags = table(10, h, w)
            magnitude = 0.0 if mags is None else float(mags[bin_])
            if k % 2:
                assert signed
                magnitude = -magnitude
            img = aa._apply_image_or_video_transform(img, op, magnitude, interpolation=aa.interpolation, fill=aa._fill)
        out.append(img)
    return torch.cat(out)


@pytest.mark.parametrize("channels", [3, 1])
def test_autoaugment_matches_torchvision_per_sample(channels):
    x = torch.randint(0, 256, (96, channels, 32, 32), dtype=torch.uint8)
    out = autoaugment_cifar10(x, torch.Generator().manual_seed(4))
    assert out.shape == x.shape and out.dtype == torch.uint8
    plan = _autoaugment_plan(len(x), x.device, torch.Generator().manual_seed(4))
    assert torch.equal(out, _torchvision_autoaugment(x, plan))
    changed = (out != x).flatten(1).any(1)
    assert 0 < int(changed.sum()) < len(x)  # ops fire with their probabilities, not always


def test_autoaugment_policy_is_torchvisions():
    assert v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10)._policies == _CIFAR10_POLICY


def test_autoaugment_groups_samples_instead_of_looping_over_them(monkeypatch):
    calls = []
    real = augment._aa_apply

    def spy(img, op, magnitude):
        calls.append((op, magnitude, len(img)))
        return real(img, op, magnitude)

    monkeypatch.setattr(augment, "_aa_apply", spy)
    x = torch.randint(0, 256, (4096, 3, 32, 32), dtype=torch.uint8)
    autoaugment_cifar10(x, torch.Generator().manual_seed(0))
    # Per step, one call per (op, magnitude, sign) group: the call count does not grow with the batch.
    assert len(calls) <= 2 * 2 * len(_CIFAR10_POLICY)
    assert len({op for op, _, _ in calls}) >= 10  # different samples got different ops
    assert len(set(calls)) == len(calls)  # no group was split into several calls
    assert sum(n for _, _, n in calls) > 4096  # most samples got at least one op


def test_autoaugment_is_reproducible_with_a_seed():
    x = _batch(b=64, h=32, w=32)
    a = autoaugment_cifar10(x, torch.Generator().manual_seed(7))
    b = autoaugment_cifar10(x, torch.Generator().manual_seed(7))
    c = autoaugment_cifar10(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_autoaugment_refuses_float_batches():
    with pytest.raises(TypeError, match="uint8"):
        autoaugment_cifar10(torch.zeros(2, 3, 8, 8))


# --- CutMix ----------------------------------------------------------------------------


def _constant_images(b=16, h=32, w=32):
    # Image i holds the value i everywhere, and class i: each pixel tells which image it came from.
    return torch.arange(b, dtype=torch.float32)[:, None, None, None].expand(b, 3, h, w).clone(), torch.arange(b)


def test_cutmix_targets_match_the_pasted_pixels():
    x, y = _constant_images()
    mixed_somewhere = 0
    for seed in range(10):
        out, targets = cutmix(x, y, num_classes=16, alpha=1.0, generator=torch.Generator().manual_seed(seed))
        assert out.shape == x.shape
        assert torch.allclose(targets.sum(1), torch.ones(16))
        for i in range(16):
            other = out[i][out[i] != i]
            frac = other.numel() / out[i].numel()
            expected = torch.zeros(16)
            if frac:
                j = int(other[0])
                assert (other == j).all()  # one source image per output
                expected[j] = frac
                mixed_somewhere += 1
            expected[i] += 1 - frac
            assert torch.allclose(targets[i], expected), (seed, i)
    assert mixed_somewhere > 50


def test_cutmix_is_reproducible_and_checks_alpha():
    x, y = _constant_images()
    a = cutmix(x, y, 16, 1.0, torch.Generator().manual_seed(3))
    b = cutmix(x, y, 16, 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="alpha"):
        cutmix(x, y, 16, 0.0)


def test_cutmix_alpha_shapes_the_pasted_area():
    x, y = _constant_images(b=4)

    def pasted(alpha, seed):
        _, t = cutmix(x, y, 4, alpha, torch.Generator().manual_seed(seed))
        return float(1 - t[torch.arange(4), y].min())  # the pasted fraction (where an image got another one)

    # Beta(1000, 1000) keeps lambda near 1/2: boxes of about 22x22 pixels, under half the image.
    assert all(pasted(1000.0, s) < 0.5 for s in range(30))
    # Beta(0.1, 0.1) pushes lambda to 0 or 1: nothing pasted, or most of the image.
    small = [pasted(0.1, s) for s in range(30)]
    assert max(small) > 0.5 and min(small) == 0.0


# --- the configured pipeline -----------------------------------------------------------


def test_augment_batch_without_augmentation_is_identity():
    x = _batch(b=16)
    cfg = AugmentParams(crop_padding=0, flip=False)
    assert torch.equal(augment_batch(x, cfg, torch.Generator().manual_seed(0)), x)


def test_augment_batch_runs_the_configured_steps_in_order():
    x = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8)
    cfg = AugmentParams(autoaugment=True, resize_scale=(0.3, 0.9), crop_padding=4, flip=True)
    out = augment_batch(x, cfg, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    # The padded crop is skipped when a resized crop is configured.
    expected = random_flip(random_resized_crop(autoaugment_cifar10(x, g), (0.3, 0.9), g), g)
    assert torch.equal(out, expected)

    cfg = AugmentParams(crop_padding=2, flip=False)
    out = augment_batch(x, cfg, torch.Generator().manual_seed(6))
    assert torch.equal(out, random_crop(x, 2, torch.Generator().manual_seed(6)))
    assert not torch.equal(out, x)
