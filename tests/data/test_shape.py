"""Array images to the channels and size a dataset asks for (rotnet.data.shape): exactly as PIL
converts image files, so prepared arrays and new images at inference agree."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rotnet.data.shape import pad_images, resize_images, to_channels


def test_array_gray_conversion_matches_pil():
    rgb = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    gray = to_channels(rgb, 1)
    assert gray.shape == (3, 16, 16, 1)
    for image, g in zip(rgb, gray, strict=True):
        assert np.array_equal(np.asarray(Image.fromarray(image).convert("L")), g[..., 0])
    assert np.array_equal(to_channels(gray, 3), np.repeat(gray, 3, axis=-1))


def test_to_channels_keeps_what_needs_no_change_and_refuses_what_it_cannot_convert():
    rgb = np.zeros((2, 4, 4, 3), np.uint8)
    assert to_channels(rgb, None) is rgb and to_channels(rgb, 3) is rgb
    with pytest.raises(ValueError, match="cannot convert 2-channel images to RGB"):
        to_channels(np.zeros((1, 4, 4, 2), np.uint8), 3)
    with pytest.raises(ValueError, match="cannot convert 4-channel images to gray"):
        to_channels(np.zeros((1, 4, 4, 4), np.uint8), 1)


def test_gray_conversion_is_the_same_across_its_chunks():
    # 4,100 images: two chunks of the uint32 temporary; each image converts as it would alone.
    rgb = np.random.default_rng(1).integers(0, 256, (4100, 1, 2, 3), dtype=np.uint8)
    gray = to_channels(rgb, 1)
    assert np.array_equal(gray[4099:], to_channels(rgb[4099:], 1)) and np.array_equal(gray[:1], to_channels(rgb[:1], 1))


def test_resize_is_pils_bilinear_and_a_no_op_at_the_size():
    images = np.random.default_rng(2).integers(0, 256, (2, 8, 6, 1), dtype=np.uint8)
    out = resize_images(images, 4)
    assert out.shape == (2, 4, 4, 1) and out.dtype == np.uint8
    pil = Image.fromarray(images[1, ..., 0]).resize((4, 4), Image.Resampling.BILINEAR)
    assert np.array_equal(out[1, ..., 0], np.asarray(pil))
    same = np.zeros((1, 4, 4, 3), np.uint8)
    assert resize_images(same, 4) is same


def test_pad_centres_with_zeros_and_puts_an_odd_remainder_bottom_right():
    images = np.full((1, 2, 3, 1), 9, np.uint8)
    out = pad_images(images, 6)
    assert out.shape == (1, 6, 6, 1)
    rows, cols = np.nonzero(out[0, ..., 0])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (2, 3, 1, 3)  # 2 above, 2 below; 1 left, 2 right
    assert out.sum() == images.sum()
    with pytest.raises(ValueError, match="3x2 images do not fit in 2x2"):
        pad_images(images, 2)
