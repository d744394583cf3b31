"""Image folders: a val/ split, channels, skipping unreadable files, size limits, square images, formats."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from rotnet.data.prepared import load_prepared
from rotnet.errors import RotnetError
from tests.data.sources import prepare_dataset
from tests.data.test_prepare import CLASSES, colour, imagefolder, make_folder, tar_folder, zip_folder


def add_val(root, n: int = 2, size: tuple[int, int] = (12, 12)) -> None:
    """val/<class>/ with solid images whose blue value (10) marks them as validation images."""
    for label, cls in enumerate(CLASSES):
        folder = root / "val" / cls
        folder.mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", size, (40 + 60 * label, 20 * i, 10)).save(folder / f"v{i}.png")


# --- val/ folder ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["folder", "tar.gz"])
def test_val_folder_is_the_validation_split(tmp_path, kind):
    src = make_folder(tmp_path / "pets", n_train=4, n_test=2)
    add_val(src, n=2)
    path = src if kind == "folder" else tar_folder(src, tmp_path / "pets.tar.gz", top="pets")
    # val_size is ignored: 100 could not even be carved from 12 training images.
    meta = prepare_dataset("pets", imagefolder(path, val_size=100), tmp_path / "out", 0)
    assert meta["counts"] == {"train": 12, "val": 6, "test": 6}
    assert meta["per_class_counts"]["val"] == [2, 2, 2]
    assert meta["val_source"] == "folder" and meta["val_size"] is None
    ds = load_prepared(tmp_path / "out")
    assert (ds.val.images[..., 2] == 10).all()  # exactly the val/ images
    # ... and none carved from train (blue 200; odd-numbered train images are JPEGs: nearly exact).
    assert (np.abs(ds.train.images[..., 2].astype(int) - 200) <= 3).all()
    assert ds.val.labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_val_folder_classes_must_match_train(tmp_path):
    src = make_folder(tmp_path / "pets")
    add_val(src)
    shutil.rmtree(src / "val" / "dog")
    (src / "val" / "yak").mkdir()
    with pytest.raises(RotnetError, match=r"only in train: \['dog'\], only in val: \['yak'\]"):
        prepare_dataset("pets", imagefolder(src), tmp_path / "out", 0)


# --- channels -------------------------------------------------------------------------------------


def test_channels_1_on_rgb_folder(tmp_path):
    src = make_folder(tmp_path / "pets")
    meta = prepare_dataset("pets", imagefolder(src, channels=1), tmp_path / "out", 0)
    assert meta["image_shape"] == [12, 12, 1] and meta["channels"] == 1 and len(meta["std"]) == 1
    test = load_prepared(tmp_path / "out").test
    expected = np.asarray(Image.new("RGB", (1, 1), colour(0, 0)).convert("L"))[0, 0]
    assert test.images[0, 3, 3, 0] == expected


def test_channels_3_on_gray_folder(tmp_path):
    src = make_folder(tmp_path / "gray")
    for p in src.rglob("*.*"):
        Image.open(p).convert("L").save(p)
    meta = prepare_dataset("gray", imagefolder(src, channels=3), tmp_path / "out", 0)
    assert meta["image_shape"] == [12, 12, 3]


# --- unreadable files -----------------------------------------------------------------------------


def test_skip_unreadable_counts_corrupt_and_non_image_files(tmp_path):
    src = make_folder(tmp_path / "pets", n_train=4)
    corrupt = src / "train" / "emu" / "002.png"
    corrupt.write_bytes(corrupt.read_bytes()[:40])
    notes = src / "test" / "cat" / "notes.txt"
    notes.write_text("not an image")
    with pytest.raises(RotnetError, match="skip_unreadable: true"):
        prepare_dataset("pets", imagefolder(src), tmp_path / "out", 0)
    meta = prepare_dataset("pets", imagefolder(src, skip_unreadable=True), tmp_path / "out", 0)
    assert meta["skipped"] == {"count": 2, "examples": sorted([str(corrupt), str(notes)])}
    assert meta["counts"]["train"] + meta["counts"]["val"] == 11
    assert meta["per_class_counts"]["test"] == [2, 2, 2]


def test_class_left_empty_after_skipping_is_an_error(tmp_path):
    src = make_folder(tmp_path / "pets")
    for p in (src / "test" / "dog").iterdir():
        p.write_text("junk")
    with pytest.raises(RotnetError, match="has no readable images") as err:
        prepare_dataset("pets", imagefolder(src, skip_unreadable=True), tmp_path / "out", 0)
    assert str(src / "test" / "dog") in str(err.value)


# --- limits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["folder", "tar.gz", "zip"])
@pytest.mark.parametrize("limit", ["max_files", "max_total_mb"])
def test_limits_refuse_before_reading(tmp_path, kind, limit):
    src = make_folder(tmp_path / "pets")  # 18 images
    (src / "train" / "cat" / "000.png").write_text("not an image: must not be reached")
    if kind == "tar.gz":
        path = tar_folder(src, tmp_path / "pets.tar.gz", top="pets")
    elif kind == "zip":
        path = zip_folder(src, tmp_path / "pets.zip")
    else:
        path = src
    value = 10 if limit == "max_files" else 0.001  # 1000 bytes: a few images
    with pytest.raises(RotnetError, match=f"raise datasets.pets.{limit} if") as err:
        prepare_dataset("pets", imagefolder(path, **{limit: value}), tmp_path / "out", 0)
    message = str(err.value)
    assert str(path) in message and f"datasets.pets.{limit}: {value:g}" in message
    assert "more than 10 files" in message if limit == "max_files" else "MB of uncompressed data" in message
    # Just under the limits: the tree is read (and reaches the broken file).
    with pytest.raises(RotnetError, match="cannot read image"):
        prepare_dataset("pets", imagefolder(path, max_files=40, max_total_mb=1), tmp_path / "out", 0)


# --- square images, padding, formats --------------------------------------------------------------


def test_non_square_images_need_resize_or_pad(tmp_path):
    src = make_folder(tmp_path / "pets", size=(12, 9))
    with pytest.raises(RotnetError, match="images are 12x9 .* square images; set datasets.pets.resize"):
        prepare_dataset("pets", imagefolder(src), tmp_path / "out", 0)
    with pytest.raises(RotnetError, match="larger than datasets.pets.pad_to"):
        prepare_dataset("pets", imagefolder(src, pad_to=10), tmp_path / "out", 0)
    assert not (tmp_path / "out").exists()
    meta = prepare_dataset("pets", imagefolder(src, pad_to=12), tmp_path / "out", 0)
    assert meta["image_shape"] == [12, 12, 3]
    image = load_prepared(tmp_path / "out").test.images[0]
    # 3 rows of padding: 1 on top, 2 at the bottom; no columns.
    assert not image[0].any() and not image[10:].any()
    assert (image[1:10] == colour(0, 0)).all()


def test_common_formats_and_16_bit_gray(tmp_path):
    src = make_folder(tmp_path / "pets")
    cat = src / "train" / "cat"
    Image.new("RGB", (12, 12), (9, 99, 199)).save(cat / "a.bmp")
    Image.new("RGB", (12, 12), (9, 99, 199)).save(cat / "b.tiff")
    Image.new("RGB", (12, 12), (9, 99, 199)).convert("P").save(cat / "c.gif")
    Image.new("RGBA", (12, 12), (9, 99, 199, 128)).save(cat / "d.webp", lossless=True)
    meta = prepare_dataset("pets", imagefolder(src, val_size=1), tmp_path / "out", 0)
    assert meta["counts"]["train"] + meta["counts"]["val"] == 16
    # A 16-bit gray PNG is scaled to 8 bits, not clipped at 255.
    gray = tmp_path / "gray"
    make_folder(gray)
    for p in gray.rglob("*.*"):
        p.unlink()
        Image.fromarray(np.full((12, 12), 0x8000, np.uint16)).save(p.with_suffix(".png"))
    prepare_dataset("gray", imagefolder(gray), tmp_path / "out16", 0)
    assert (load_prepared(tmp_path / "out16").test.images == 0x80).all()


def test_zip_with_val_folder_and_skip(tmp_path):
    src = make_folder(tmp_path / "pets")
    add_val(src)
    (src / "val" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff junk")
    archive = zip_folder(src, tmp_path / "pets.zip")
    assert zipfile.is_zipfile(archive)
    meta = prepare_dataset("pets", imagefolder(archive, skip_unreadable=True), tmp_path / "out", 0)
    assert meta["skipped"] == {"count": 1, "examples": [f"{archive}:val/cat/broken.jpg"]}
    assert meta["counts"]["val"] == 6 and meta["val_source"] == "folder"


def test_exif_orientation_is_applied(tmp_path):
    """A photo stored sideways with an EXIF 'rotate 90' tag is read upright."""
    import numpy as np
    from PIL import Image

    from rotnet.data.imagefolder import load_imagefolder

    for split in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            img = np.zeros((8, 8, 3), dtype=np.uint8)
            img[0, :, :] = 255  # bright top row when upright
            stored = Image.fromarray(np.rot90(img, 1).copy())  # stored turned 90 degrees counter-clockwise
            exif = Image.Exif()
            exif[0x0112] = 6  # orientation: rotate 90 CW to display
            stored.save(tmp_path / split / cls / "0.jpg", exif=exif, quality=100)
    data = load_imagefolder(tmp_path, "exif")
    first = data.train.images[0]
    assert first[0].mean() > 200 and first[-1].mean() < 50  # upright: bright top, dark bottom
