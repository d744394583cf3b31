import torch

from rotnet.rotation import ANGLES, LABELS, NUM_ROTATIONS, rotate_all


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
