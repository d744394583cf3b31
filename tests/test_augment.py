import torch
import torch.nn.functional as F

from rotnet.data.augment import random_crop, random_flip, rotate_all


def _batch(b=6, c=3, h=8, w=8):
    return torch.randint(0, 256, (b, c, h, w), dtype=torch.uint8)


def test_rotation_label_k_is_image_rotated_k_times_90():
    x = _batch()
    rotated, labels = rotate_all(x)
    assert rotated.shape == (4 * len(x), *x.shape[1:])
    for i in range(len(rotated)):
        k, src = int(labels[i]), i % len(x)
        assert torch.equal(rotated[i], torch.rot90(x[src], k, dims=(1, 2)))
    assert labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6 + [3] * 6


def test_rotation_by_90_moves_top_row_to_left_column():
    x = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    x[0, 0, 0, :] = 255  # a bright top edge
    rotated, _ = rotate_all(x)
    assert rotated[1, 0, :, 0].tolist() == [255] * 4  # 90 degrees counter-clockwise: left edge
    assert rotated[2, 0, 3, :].tolist() == [255] * 4  # 180: bottom edge
    assert rotated[3, 0, :, 3].tolist() == [255] * 4  # 270: right edge


def test_rotation_refuses_non_square_images():
    try:
        rotate_all(torch.zeros(1, 3, 4, 6))
    except ValueError as err:
        assert "square" in str(err)
    else:
        raise AssertionError("non-square batch accepted")


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
