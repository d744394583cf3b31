"""Reading images for inference (rotnet.inference.images): any format and size, upright, one
readable error per bad file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rotnet.inference.images import distinct, expand, open_image, read_batches, to_batch


def _png(path, size=(6, 4), colour=(10, 20, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def test_folders_give_their_images_recursively_and_files_stay_as_given(tmp_path):
    _png(tmp_path / "d" / "b.png")
    _png(tmp_path / "d" / "sub" / "a.JPG".lower())
    (tmp_path / "d" / "notes.txt").write_text("x")
    missing = tmp_path / "missing.png"
    assert expand([tmp_path / "d", str(missing)]) == [tmp_path / "d/b.png", tmp_path / "d/sub/a.jpg", missing]


def test_distinct_keeps_the_first_mention_of_each_file(tmp_path):
    a = _png(tmp_path / "a.png")
    b = _png(tmp_path / "b.png")
    assert distinct([a, tmp_path / "." / "a.png", b, a]) == [a, b]
    pairs = [(a, "first"), (b, "x"), (tmp_path / "sub" / ".." / "a.png", "again")]
    assert distinct(pairs, path=lambda pair: pair[0]) == pairs[:2]


def test_open_image_is_upright_in_the_asked_mode(tmp_path):
    image = Image.new("RGB", (6, 4), (200, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # EXIF orientation: turned 90 degrees; shown upright it is 4 wide, 6 high
    image.save(tmp_path / "turned.jpg", exif=exif)
    upright = open_image(tmp_path / "turned.jpg", "L")
    assert upright.mode == "L" and upright.size == (4, 6)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("not an image"), "not a readable image (UnidentifiedImageError"),
        (lambda p: Image.new("L", (300, 300)).save(p, format="PNG"), "300x300 pixels is over the limit of 50000"),
    ],
)
def test_a_bad_file_raises_a_readable_value_error(tmp_path, make, message):
    path = tmp_path / "x.png"
    make(path)
    with pytest.raises(ValueError) as err:
        open_image(path, "RGB", max_pixels=50_000)
    assert str(err.value).startswith(message)


def test_to_batch_resizes_to_height_width_and_keeps_a_channel_axis_for_gray():
    wide = Image.new("RGB", (30, 10), (1, 2, 3))
    gray = Image.new("L", (5, 5), 7)
    assert to_batch([wide], (8, 12)).shape == (1, 8, 12, 3)
    batch = to_batch([gray, gray], (4, 4))
    assert batch.shape == (2, 4, 4, 1) and batch.dtype == np.uint8 and (batch == 7).all()


def test_read_batches_splits_into_batches_and_reports_bad_files_apart(tmp_path):
    files = [_png(tmp_path / f"{i}.png") for i in range(3)]
    bad = tmp_path / "bad.png"
    bad.write_text("x")
    batches = list(read_batches([files[0], bad, files[1], files[2]], "RGB", 2, 10_000, "test"))
    assert [good for good, _, _ in batches] == [[files[0]], [files[1], files[2]]]
    assert [len(images) for _, images, _ in batches] == [1, 2]
    assert list(batches[0][2]) == [bad] and batches[1][2] == {}
