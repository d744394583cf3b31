import pytest
import torch

from rotnet.rotation import (
    ANGLES,
    LABELS,
    NUM_ROTATIONS,
    _interpolated,
    circle_mask,
    labels_of,
    rotate_all,
    rotate_by,
)


def _batch(b=6, c=3, h=8, w=8):
    return torch.randint(0, 256, (b, c, h, w), dtype=torch.uint8)


def test_angles_and_labels_are_defined_once():
    assert ANGLES == (0, 90, 180, 270) and NUM_ROTATIONS == 4 and LABELS == ["0", "90", "180", "270"]


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


def test_channels_last_batches_stay_channels_last():
    x = torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    rotated, _ = rotate_all(x)
    assert rotated.is_contiguous(memory_format=torch.channels_last)


# --- any angle set: 2 rotations, 8 rotations (paper Table 2) ----------------------------

EIGHT = tuple(range(0, 360, 45))


def test_default_set_is_the_paper_four_unchanged():
    x = _batch().float().contiguous(memory_format=torch.channels_last)
    rotated, labels = rotate_all(x, (0, 90, 180, 270))
    assert torch.equal(rotated, torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)]))
    assert torch.equal(labels, rotate_all(x)[1])


@pytest.mark.parametrize("angles", [(0, 180), (90, 270)])
def test_two_right_angles_use_rot90_without_a_mask(angles):
    x = _batch()
    rotated, labels = rotate_all(x, angles)
    assert labels.tolist() == [0] * 6 + [1] * 6  # label i = angles[i]
    for i, a in enumerate(angles):
        assert torch.equal(rotated[6 * i : 6 * (i + 1)], torch.rot90(x, a // 90, dims=(2, 3)))


def test_interpolated_right_angles_match_rot90():
    """The grid_sample path turns the same way as rot90 (counter-clockwise)."""
    x = torch.randn(2, 3, 9, 9)
    for a in (90, 180, 270):
        assert torch.allclose(_interpolated(x, a), torch.rot90(x, a // 90, dims=(2, 3)), atol=1e-5)


def test_45_degrees_turns_counter_clockwise():
    x = torch.zeros(1, 1, 33, 33)
    x[0, 0, :16, 16] = 1.0  # a line from the centre straight up
    turned = rotate_by(x, 45)[0, 0]
    assert turned[16 - 10, 16 - 10] > 0.5  # now up and to the left
    assert turned[16 - 10, 16 + 10] < 0.1 and turned[6, 16] < 0.1


def test_eight_rotations_mask_every_copy_the_same_so_corners_give_nothing_away():
    const = torch.full((2, 3, 32, 32), 200, dtype=torch.uint8)
    rotated, labels = rotate_all(const, EIGHT)
    assert rotated.shape == (16, 3, 32, 32) and labels.tolist() == [i for i in range(8) for _ in range(2)]
    at0, at45 = rotated[0], rotated[2]
    assert torch.equal(at0, at45)  # masked 0 and 45 degree copies of a constant image: identical
    assert all(torch.equal(rotated[i], at0) for i in range(16))
    mask = circle_mask(32)
    assert (at0[:, ~mask] == 0).all() and (at0[:, mask] == 200).all()  # corners zeroed, the disc kept
    floats, _ = rotate_all(torch.full((1, 3, 16, 16), 0.7), EIGHT)
    assert all(torch.allclose(floats[i], floats[0], atol=1e-6) for i in range(8))


def test_masked_copies_hold_the_turned_content():
    x = torch.randn(4, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    rotated, _ = rotate_all(x, EIGHT)
    mask = circle_mask(16)
    assert rotated.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(rotated[:4], x.masked_fill(~mask, 0))  # 0 degrees: the image, masked
    assert torch.equal(rotated[8:12], torch.rot90(x, 1, dims=(2, 3)).masked_fill(~mask, 0))
    assert torch.allclose(rotated[4:8], rotate_by(x, 45).masked_fill(~mask, 0))


@pytest.mark.parametrize("angles", [(0,), (0, 30), (0, 360), (90, 0), (0, 90, 90)])
def test_bad_angle_sets_are_refused(angles):
    with pytest.raises(ValueError, match="multiples of 45"):
        rotate_all(_batch(), angles)


def test_labels_name_the_angles():
    assert labels_of((0, 180)) == ["0", "180"] and labels_of(EIGHT)[1] == "45"
