"""prepare_dataset from each source: the official CIFAR-10 format, downloads, image folders and archives."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rotnet.data import cifar
from rotnet.data.prepared import load_prepared
from rotnet.errors import RotnetError
from rotnet.params import DatasetParams
from tests.data.cifar_files import CIFAR_CLASSES, make_cifar_archive, md5
from tests.data.sources import in_folder, prepare_dataset, sourced

META_KEYS = {
    "name", "description", "source", "checksum", "counts", "per_class_counts", "class_names",
    "image_shape", "mean", "std", "seed", "val_size", "train_per_class", "resize",
    "pad_to", "channels", "val_source", "skipped",
}  # fmt: skip
OFFICIAL_ORDER = "the official order (data_batch_1 to data_batch_5)"


def rows(images: np.ndarray, labels: np.ndarray) -> list[bytes]:
    """Each image with its label as one sortable row: compares splits as multisets."""
    return sorted(img.tobytes() + bytes([lab]) for img, lab in zip(images, labels, strict=True))


def test_cifar_archive_prepare_and_round_trip(tiny_cifar, tmp_path):
    path, _ = tiny_cifar
    raw = cifar.load_cifar_archive(path)
    cfg = sourced(path, source="cifar-archive", val_size=10)
    meta = prepare_dataset("cifar10", cfg, tmp_path / "out", seed=0)
    assert set(meta) >= META_KEYS
    assert meta["counts"] == {"train": 90, "val": 10, "test": 20}
    assert meta["per_class_counts"]["val"] == [1] * 10
    assert meta["per_class_counts"]["train"] == [9] * 10
    assert meta["per_class_counts"]["test"] == [2] * 10
    assert meta["class_names"] == CIFAR_CLASSES
    assert meta["image_shape"] == [32, 32, 3]
    assert meta["description"] == "CIFAR-10 (official); validation 10 images (default 5,000)"
    assert meta["provenance"]["official"] is True and meta["provenance"]["order"] == OFFICIAL_ORDER
    assert meta["source"] == {"kind": "cifar-archive", "path": str(path)}
    assert meta["checksum"] == {"algorithm": "md5", "value": md5(path)}
    ds = load_prepared(tmp_path / "out")
    assert ds.meta == meta == json.loads((tmp_path / "out" / "meta.json").read_text())
    # train + val hold exactly the source's training images, each with its own label.
    carved = rows(np.concatenate([ds.train.images, ds.val.images]), np.concatenate([ds.train.labels, ds.val.labels]))
    assert carved == rows(raw.train.images, raw.train.labels)
    assert np.array_equal(ds.test.images, raw.test.images)
    mean = ds.train.images.reshape(-1, 3).mean(0) / 255
    assert np.allclose(meta["mean"], mean)


def test_cifar_archive_train_per_class_and_resize(tiny_cifar, tmp_path):
    path, _ = tiny_cifar
    cfg = sourced(path, source="cifar-archive", val_size=10, train_per_class=4, resize=16)
    meta = prepare_dataset("cifar10", cfg, tmp_path / "out", seed=1)
    assert meta["counts"] == {"train": 30, "val": 10, "test": 20}
    assert np.add(meta["per_class_counts"]["train"], meta["per_class_counts"]["val"]).tolist() == [4] * 10
    assert meta["image_shape"] == [16, 16, 3]
    ds = load_prepared(tmp_path / "out")
    assert ds.test.images.shape == (20, 16, 16, 3)


def test_semisup_subsets_are_the_first_k_of_each_class_in_the_archive_order(tmp_path, monkeypatch):
    from rotnet.probing.semisup import with_labels

    path = tmp_path / "cifar-10-python.tar.gz"
    make_cifar_archive(path, per_batch=40)  # 20 train images per class, interleaved over 5 batches
    monkeypatch.setattr(cifar, "CIFAR10_MD5", md5(path))
    raw = cifar.load_cifar_archive(path)  # the archive's order (its parsing is tested above)
    first = {c: raw.train.images[raw.train.labels == c] for c in range(10)}  # each class, in order
    cfg = sourced(path, source="cifar-archive", val_size=50, keep_first_per_class=8)
    meta = prepare_dataset("cifar10", cfg, tmp_path / "out", seed=0)
    assert meta["keep_first_per_class"] == 8 and meta["per_class_counts"]["val"] == [5] * 10
    assert meta["provenance"]["official"] is True and meta["provenance"]["order"] == OFFICIAL_ORDER
    ds = load_prepared(tmp_path / "out")
    for k in (1, 2, 5, 8):
        subset = with_labels(ds, k).train
        for c in range(10):
            assert np.array_equal(subset.images[subset.labels == c], first[c][:k]), (k, c)
    # Validation comes from outside the first 8 of each class; the test split is the archive's.
    kept = {img.tobytes() for c in range(10) for img in first[c][:8]}
    assert not kept & {img.tobytes() for img in ds.val.images}
    assert np.array_equal(ds.test.images, raw.test.images) and np.array_equal(ds.test.labels, raw.test.labels)
    # Without the reservation the same seeded carve takes some of them: the subsets would differ.
    prepare_dataset("cifar10", cfg.with_cfg(keep_first_per_class=None), tmp_path / "all", seed=0)
    assert kept & {img.tobytes() for img in load_prepared(tmp_path / "all").val.images}


def test_a_reservation_that_leaves_no_room_for_the_carve_is_refused(tiny_cifar, tmp_path):
    path, _ = tiny_cifar  # 10 train images per class; val_size 20 takes 2 of each
    cfg = sourced(path, source="cifar-archive", val_size=20, keep_first_per_class=10)
    with pytest.raises(RotnetError, match="lower datasets.cifar10.keep_first_per_class to at most 8") as err:
        prepare_dataset("cifar10", cfg, tmp_path / "out", seed=0)
    assert "or lower datasets.cifar10.val_size" in str(err.value) and "semisup.labels_per_class" in str(err.value)
    assert not (tmp_path / "out").exists()


# --- source: download ---------------------------------------------------------------------------


def test_download_only_for_official_datasets(tmp_path):
    with pytest.raises(RotnetError) as err:
        prepare_dataset("svhn", in_folder(tmp_path / "raw"), tmp_path / "out", 0)
    assert str(err.value) == (
        "no official download for dataset 'svhn' (official downloads: cifar10, fashion_mnist); "
        "add its files with `rotnet data add svhn PATH` and set datasets.svhn.source to imagefolder"
    )


# --- source: imagefolder ------------------------------------------------------------------------

CLASSES = ("cat", "dog", "emu")


def colour(label: int, index: int) -> tuple[int, int, int]:
    return (40 + 60 * label, 20 * index, 200)


def make_folder(root: Path, n_train: int = 4, n_test: int = 2, size: tuple[int, int] = (12, 12)) -> Path:
    """train/ and test/ with solid-colour images, PNG for even and JPEG for odd indices."""
    for split, n in (("train", n_train), ("test", n_test)):
        for label, cls in enumerate(CLASSES):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                suffix = "png" if i % 2 == 0 else "jpg"
                Image.new("RGB", size, colour(label, i)).save(folder / f"{i:03d}.{suffix}")
    return root


def tar_folder(folder: Path, archive: Path, top: str | None) -> Path:
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname=top or ".")
    return archive


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, p.relative_to(folder).as_posix())
    return archive


def imagefolder(path: Path, **kwargs) -> DatasetParams:
    return sourced(path, source="imagefolder", **{"val_size": 3, **kwargs})


def test_imagefolder_directory(tmp_path):
    src = make_folder(tmp_path / "pets")
    (src / "train" / "cat" / ".DS_Store").write_bytes(b"\0junk")  # hidden files are ignored
    meta = prepare_dataset("pets", imagefolder(src), tmp_path / "out", seed=0)
    assert set(meta) >= META_KEYS
    assert meta["class_names"] == list(CLASSES)
    assert meta["counts"] == {"train": 9, "val": 3, "test": 6}
    assert meta["per_class_counts"]["val"] == [1, 1, 1]
    assert meta["image_shape"] == [12, 12, 3]
    assert (meta["val_source"], meta["val_size"], meta["channels"], meta["pad_to"]) == ("carved", 3, 3, None)
    assert meta["skipped"] == {"count": 0, "examples": []}
    assert meta["description"] == f"image folder {src}; validation 3 images (default 5,000)"
    assert meta["provenance"]["official"] is False and "sorted" in meta["provenance"]["order"]
    assert meta["source"] == {"kind": "imagefolder", "path": str(src)}
    assert meta["checksum"]["algorithm"] == "sha256" and len(meta["checksum"]["value"]) == 64
    ds = load_prepared(tmp_path / "out")
    # Test images keep class order, then file order: test/cat/000.png (lossless) comes first.
    assert ds.test.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert tuple(ds.test.images[0, 5, 7]) == colour(0, 0)
    assert np.abs(ds.test.images[1].astype(int) - colour(0, 1)).max() <= 3  # JPEG: nearly exact


def test_imagefolder_checksum_tracks_content(tmp_path):
    src = make_folder(tmp_path / "pets")
    first = prepare_dataset("pets", imagefolder(src), tmp_path / "a", 0)["checksum"]
    assert prepare_dataset("pets", imagefolder(src), tmp_path / "b", 0)["checksum"] == first
    Image.new("RGB", (12, 12), (1, 2, 3)).save(src / "test" / "dog" / "000.png")
    assert prepare_dataset("pets", imagefolder(src), tmp_path / "c", 0)["checksum"] != first


def test_imagefolder_deterministic_split(tmp_path):
    src = make_folder(tmp_path / "pets", n_train=10)
    a = prepare_dataset("pets", imagefolder(src, val_size=9), tmp_path / "a", seed=5)
    prepare_dataset("pets", imagefolder(src, val_size=9), tmp_path / "b", seed=5)
    prepare_dataset("pets", imagefolder(src, val_size=9), tmp_path / "c", seed=6)
    da, db, dc = (load_prepared(tmp_path / k) for k in "abc")
    assert np.array_equal(da.val.images, db.val.images) and np.array_equal(da.train.images, db.train.images)
    assert not np.array_equal(da.val.images, dc.val.images)
    assert a["seed"] == 5


def test_imagefolder_train_per_class_keeps_first_files(tmp_path):
    src = make_folder(tmp_path / "pets", n_train=6)
    meta = prepare_dataset("pets", imagefolder(src, train_per_class=2, val_size=3), tmp_path / "out", 0)
    assert meta["counts"]["train"] + meta["counts"]["val"] == 6
    ds = load_prepared(tmp_path / "out")
    kept = np.concatenate([ds.train.images, ds.val.images])[:, 0, 0, 1]  # green encodes the file index
    assert sorted(np.round(kept / 20).astype(int).tolist()) == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("kind", ["tar.gz with top folder", "tgz flat", "zip"])
def test_imagefolder_archives_match_directory(tmp_path, kind):
    src = make_folder(tmp_path / "pets")
    prepare_dataset("pets", imagefolder(src), tmp_path / "from_dir", 0)
    if kind == "zip":
        archive = zip_folder(src, tmp_path / "pets.zip")
    elif kind == "tgz flat":
        archive = tar_folder(src, tmp_path / "pets.tgz", top=None)
    else:
        archive = tar_folder(src, tmp_path / "pets.tar.gz", top="pets-v1")
    meta = prepare_dataset("pets", imagefolder(archive), tmp_path / "from_archive", 0)
    assert meta["checksum"] == {"algorithm": "sha256", "value": hashlib.sha256(archive.read_bytes()).hexdigest()}
    assert meta["description"] == f"image folder {archive}; validation 3 images (default 5,000)"
    a, b = load_prepared(tmp_path / "from_dir"), load_prepared(tmp_path / "from_archive")
    for split in ("train", "val", "test"):
        assert np.array_equal(getattr(a, split).images, getattr(b, split).images)
        assert np.array_equal(getattr(a, split).labels, getattr(b, split).labels)
    assert list(tmp_path.glob("pets-v1")) == []  # nothing extracted beside the archive


def test_imagefolder_grayscale(tmp_path):
    src = make_folder(tmp_path / "gray")
    for p in src.rglob("*.*"):
        Image.open(p).convert("L").save(p)
    meta = prepare_dataset("gray", imagefolder(src), tmp_path / "out", 0)
    assert meta["image_shape"] == [12, 12, 1] and len(meta["mean"]) == 1
    # One colour image among grayscale ones: everything becomes RGB, gray replicated to 3 channels.
    Image.new("RGB", (12, 12), (250, 0, 0)).save(src / "test" / "emu" / "000.png")
    meta = prepare_dataset("gray", imagefolder(src), tmp_path / "out", 0)
    assert meta["image_shape"] == [12, 12, 3]
    test = load_prepared(tmp_path / "out").test
    assert tuple(test.images[-2, 0, 0]) == (250, 0, 0)
    assert len(set(test.images[0, 0, 0].tolist())) == 1


def test_imagefolder_jpeg_cifar10_description(tmp_path):
    src = make_folder(tmp_path / "cifar10-jpeg-copy")
    meta = prepare_dataset("cifar10", imagefolder(src), tmp_path / "out", 0)
    assert meta["description"] == f"CIFAR-10 JPEG copy (image folder {src}); validation 3 images (default 5,000)"
    assert meta["provenance"]["official"] is False  # an image folder has no official checksum


def test_imagefolder_missing_test_folder(tmp_path):
    src = make_folder(tmp_path / "pets")
    shutil.rmtree(src / "test")
    with pytest.raises(RotnetError, match="is missing") as err:
        prepare_dataset("pets", imagefolder(src), tmp_path / "out", 0)
    assert str(src / "test") in str(err.value) and "rotnet data add pets PATH --replace" in str(err.value)


def test_imagefolder_empty_class(tmp_path):
    src = make_folder(tmp_path / "pets")
    for p in (src / "train" / "dog").iterdir():
        p.unlink()
    with pytest.raises(RotnetError, match="is empty") as err:
        prepare_dataset("pets", imagefolder(src), tmp_path / "out", 0)
    assert str(src / "train" / "dog") in str(err.value)


def test_imagefolder_class_mismatch(tmp_path):
    src = make_folder(tmp_path / "pets")
    shutil.rmtree(src / "test" / "emu")
    (src / "test" / "yak").mkdir()
    with pytest.raises(RotnetError, match=r"only in train: \['emu'\], only in test: \['yak'\]"):
        prepare_dataset("pets", imagefolder(src), tmp_path / "out", 0)


def test_imagefolder_corrupt_image_named(tmp_path):
    src = make_folder(tmp_path / "pets")
    bad = src / "train" / "emu" / "002.png"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated PNG
    with pytest.raises(RotnetError, match="cannot read image") as err:
        prepare_dataset("pets", imagefolder(src), tmp_path / "out", 0)
    assert str(bad) in str(err.value)
    assert not (tmp_path / "out").exists()
    # Inside an archive the member is named as it is in the archive.
    (src / "train" / "emu" / "002.png").write_text("not an image")
    archive = tar_folder(src, tmp_path / "pets.tar.gz", top="pets")
    with pytest.raises(RotnetError, match="cannot read image") as err:
        prepare_dataset("pets", imagefolder(archive), tmp_path / "out", 0)
    assert f"{archive}:pets/train/emu/002.png" in str(err.value)


def test_imagefolder_mixed_sizes_and_resize(tmp_path):
    src = make_folder(tmp_path / "pets")
    Image.new("RGB", (20, 16), (5, 5, 5)).save(src / "train" / "dog" / "001.jpg")
    with pytest.raises(RotnetError, match="set datasets.pets.resize") as err:
        prepare_dataset("pets", imagefolder(src), tmp_path / "out", 0)
    message = str(err.value)
    assert f"{src / 'train' / 'cat' / '000.png'} is 12x12" in message
    assert f"{src / 'train' / 'dog' / '001.jpg'} is 20x16" in message
    meta = prepare_dataset("pets", imagefolder(src, resize=8), tmp_path / "out", 0)
    assert meta["image_shape"] == [8, 8, 3] and meta["resize"] == 8
    assert load_prepared(tmp_path / "out").test.images.shape == (6, 8, 8, 3)


def test_imagefolder_bad_path(tmp_path):
    with pytest.raises(RotnetError, match="does not exist"):
        prepare_dataset("pets", imagefolder(tmp_path / "nowhere"), tmp_path / "out", 0)
    (tmp_path / "pets.rar").write_bytes(b"x")
    with pytest.raises(RotnetError, match="neither a folder nor"):
        prepare_dataset("pets", imagefolder(tmp_path / "pets.rar"), tmp_path / "out", 0)


def test_imagefolder_damaged_archive(tmp_path):
    src = make_folder(tmp_path / "pets")
    archive = tar_folder(src, tmp_path / "pets.tar.gz", top="pets")
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(RotnetError, match="damaged or incomplete") as err:
        prepare_dataset("pets", imagefolder(archive), tmp_path / "out", 0)
    assert str(archive) in str(err.value)


# --- the real (mini) CIFAR-10 JPEG archive from ../shared ---------------------------------------


def test_mini_cifar_jpeg_archive(mini_cifar_archive, tmp_path):
    cfg = sourced(mini_cifar_archive, source="imagefolder", val_size=500)
    meta = prepare_dataset("cifar10", cfg, tmp_path / "out", seed=0)
    assert set(meta) >= META_KEYS
    assert meta["counts"] == {"train": 2500, "val": 500, "test": 1000}
    assert meta["per_class_counts"] == {"train": [250] * 10, "val": [50] * 10, "test": [100] * 10}
    assert meta["class_names"] == CIFAR_CLASSES
    assert meta["image_shape"] == [32, 32, 3]
    assert meta["description"] == (
        f"CIFAR-10 JPEG copy (image folder {mini_cifar_archive}); validation 500 images (default 5,000)"
    )
    assert meta["checksum"] == {
        "algorithm": "sha256",
        "value": "297509edbb96971d2794f0a833819e8b9626bbf6cf911ba79c478d5067f58532",  # ../shared/datasets/README.md
    }
    assert all(0.4 < m < 0.55 for m in meta["mean"]) and all(0.2 < s < 0.3 for s in meta["std"])
    assert (meta["seed"], meta["val_size"], meta["train_per_class"], meta["resize"]) == (0, 500, None, None)
    ds = load_prepared(tmp_path / "out")
    assert ds.meta == meta
    assert ds.train.images.shape == (2500, 32, 32, 3) and ds.train.images.dtype == np.uint8
    assert ds.val.labels.dtype == np.int64 and ds.test.labels.tolist() == sorted(ds.test.labels.tolist())
    assert np.bincount(ds.train.labels).tolist() == [250] * 10
