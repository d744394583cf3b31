"""Fashion-MNIST: IDX parsing, the checked download, source: idx, and channels/padding on its images."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from rotnet.data import cifar, fashion
from rotnet.data.prepared import load_prepared
from rotnet.errors import RotnetError
from rotnet.params import DatasetParams
from tests.data.sources import in_folder, prepare_dataset, sourced

N_TRAIN, N_TEST = 40, 20


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0x0000 08 <ndim>, big-endian dims, then the values."""
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def fashion_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": ((np.arange(N_TEST) * 3) % 10).astype(np.uint8),
    }


def make_idx_folder(folder: Path, gz: bool = True, arrays: dict[str, np.ndarray] | None = None) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = arrays or fashion_arrays()
    for base, array in arrays.items():
        write_idx(folder / (f"{base}.gz" if gz else base), array)
    return arrays


def idx(path: Path, **kwargs) -> DatasetParams:
    return sourced(path, source="idx", **{"val_size": 10, **kwargs})


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --- IDX parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_parse_idx_images_and_labels(tmp_path, gz):
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    suffix = ".gz" if gz else ""
    img_file = write_idx(tmp_path / f"images{suffix}", images)
    lab_file = write_idx(tmp_path / f"labels{suffix}", labels)
    assert (img_file.read_bytes()[:2] == b"\x1f\x8b") == gz
    parsed = fashion.parse_idx(img_file.read_bytes(), fashion.IMAGES_MAGIC, str(img_file))
    assert parsed.shape == (5, 28, 28) and parsed.dtype == np.uint8
    assert np.array_equal(parsed, images)
    assert fashion.parse_idx(lab_file.read_bytes(), fashion.LABELS_MAGIC, "x").tolist() == [3, 1, 4, 1, 5]


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("truncated", "is truncated"),
        ("bad magic", "has IDX magic 0x00000801, expected 0x00000803"),
        ("broken gzip", "not a readable gzip file"),
        ("trailing bytes", "longer than its header says"),
        ("wrong dims", "holds 27x28 images"),
    ],
)
def test_damaged_idx_file_named_with_fix(tmp_path, damage, expected):
    folder = tmp_path / "fm"
    make_idx_folder(folder)
    bad = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(bad.read_bytes())
    if damage == "truncated":
        bad.write_bytes(gzip.compress(raw[:-100]))
    elif damage == "bad magic":
        bad.write_bytes(gzip.compress(idx_bytes(np.zeros(N_TRAIN, np.uint8))))  # a label file
    elif damage == "broken gzip":
        bad.write_bytes(bad.read_bytes()[:-30])
    elif damage == "trailing bytes":
        bad.write_bytes(gzip.compress(raw + b"\0"))
    else:
        write_idx(bad, np.zeros((N_TRAIN, 27, 28), np.uint8))
    with pytest.raises(RotnetError, match=expected) as err:
        prepare_dataset("fashion_mnist", idx(folder), tmp_path / "out", 0)
    message = str(err.value)
    assert str(bad) in message
    assert "delete it and download it again" in message and "rotnet data add fashion_mnist PATH" in message
    assert not (tmp_path / "out").exists()


def test_mismatched_image_and_label_counts(tmp_path):
    folder = tmp_path / "fm"
    arrays = fashion_arrays()
    arrays["t10k-labels-idx1-ubyte"] = arrays["t10k-labels-idx1-ubyte"][:-1]
    make_idx_folder(folder, arrays=arrays)
    with pytest.raises(RotnetError, match=f"has {N_TEST} images but .* has {N_TEST - 1} labels") as err:
        prepare_dataset("fashion_mnist", idx(folder), tmp_path / "out", 0)
    assert str(folder / "t10k-labels-idx1-ubyte.gz") in str(err.value)


def test_idx_folder_missing_file(tmp_path):
    folder = tmp_path / "fm"
    make_idx_folder(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(RotnetError, match=r"lacks the Fashion-MNIST file\(s\) \['t10k-labels-idx1-ubyte'\]"):
        prepare_dataset("fashion_mnist", idx(folder), tmp_path / "out", 0)


# --- source: idx --------------------------------------------------------------------------------


def test_idx_folder_prepare(tmp_path):
    arrays = make_idx_folder(tmp_path / "gz", gz=True)
    make_idx_folder(tmp_path / "raw", gz=False)
    meta = prepare_dataset("fashion_mnist", idx(tmp_path / "gz"), tmp_path / "out", seed=0)
    # IDX files of other images: accepted, and labelled as what they are, with the small carve.
    folder = tmp_path / "gz"
    assert meta["description"] == f"Fashion-MNIST format, from {folder}; validation 10 images (default 5,000)"
    assert meta["provenance"]["official"] is False and "not the official" in meta["provenance"]["checked"]
    assert meta["provenance"]["order"] == "the IDX files' order"
    assert meta["class_names"] == [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]  # fmt: skip
    assert meta["counts"] == {"train": 30, "val": 10, "test": 20}
    assert meta["image_shape"] == [28, 28, 1] and meta["channels"] == 1 and meta["val_source"] == "carved"
    assert meta["source"] == {"kind": "idx", "path": str(tmp_path / "gz")}
    ds = load_prepared(tmp_path / "out")
    assert np.array_equal(ds.test.images[..., 0], arrays["t10k-images-idx3-ubyte"])
    assert ds.test.labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    train = {img.tobytes(): lab for img, lab in zip(ds.train.images, ds.train.labels, strict=True)}
    source = dict(zip(map(bytes, arrays["train-images-idx3-ubyte"]), arrays["train-labels-idx1-ubyte"], strict=True))
    assert all(source[k] == v for k, v in train.items())  # every kept image keeps its own label
    # The checksum covers content, not compression: the uncompressed copy agrees.
    assert prepare_dataset("fashion_mnist", idx(tmp_path / "raw"), tmp_path / "out2", 0)["checksum"] == meta["checksum"]


def test_idx_folder_is_official_only_when_every_gz_md5_is_the_official_one(tmp_path, monkeypatch):
    make_idx_folder(tmp_path / "gz", gz=True)
    make_idx_folder(tmp_path / "raw", gz=False)
    # The official table names these very files: the folder is the official data.
    monkeypatch.setattr(fashion, "FASHION_MD5", {f: md5(tmp_path / "gz" / f) for f in fashion.FASHION_MD5})
    meta = prepare_dataset("fashion_mnist", idx(tmp_path / "gz"), tmp_path / "out", 0)
    assert meta["description"] == "Fashion-MNIST (official); validation 10 images (default 5,000)"
    assert meta["provenance"] == {
        "what": "Fashion-MNIST (official)",
        "official": True,
        "checked": "the md5s of the four .gz files equal the official ones",
        "order": "the official IDX files' order",
    }
    # Uncompressed copies of the same data cannot be checked against the .gz md5s: not official.
    assert fashion.official_files(tmp_path / "raw") == (
        False,
        "no train-images-idx3-ubyte.gz (the official md5s are of the .gz files)",
    )
    # One file differs from the table: not official, and the label names the folder instead.
    write_idx(tmp_path / "gz" / "t10k-labels-idx1-ubyte.gz", np.zeros(N_TEST, np.uint8))
    official, checked = fashion.official_files(tmp_path / "gz")
    assert not official and checked.startswith("t10k-labels-idx1-ubyte.gz has md5 ")
    meta = prepare_dataset("fashion_mnist", idx(tmp_path / "gz", train_per_class=3), tmp_path / "out", 0)
    assert meta["description"] == (
        f"Fashion-MNIST format, from {tmp_path / 'gz'}; train cut to the first 3 images per class; "
        "validation 10 images (default 5,000)"
    )


def test_channels_3_replicates_gray(tmp_path):
    make_idx_folder(tmp_path / "fm")
    meta = prepare_dataset("fashion_mnist", idx(tmp_path / "fm", channels=3), tmp_path / "out", 0)
    assert meta["image_shape"] == [28, 28, 3] and meta["channels"] == 3 and len(meta["mean"]) == 3
    ds = load_prepared(tmp_path / "out")
    assert ds.train.images.shape == (30, 28, 28, 3)
    assert np.array_equal(ds.test.images[..., 0], ds.test.images[..., 1])
    assert np.array_equal(ds.test.images[..., 0], ds.test.images[..., 2])
    assert ds.test.images[..., 0].std() > 0


def test_pad_to_32_zero_borders(tmp_path):
    arrays = make_idx_folder(tmp_path / "fm")
    meta = prepare_dataset("fashion_mnist", idx(tmp_path / "fm", pad_to=32), tmp_path / "out", 0)
    assert meta["image_shape"] == [32, 32, 1] and meta["pad_to"] == 32 and meta["resize"] is None
    test = load_prepared(tmp_path / "out").test.images
    assert test.shape == (N_TEST, 32, 32, 1)
    assert np.array_equal(test[:, 2:30, 2:30, 0], arrays["t10k-images-idx3-ubyte"])
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert not test[:, border].any()


def test_resize_then_pad_odd_remainder(tmp_path):
    make_idx_folder(tmp_path / "fm")
    prepare_dataset("fashion_mnist", idx(tmp_path / "fm", resize=15, pad_to=18), tmp_path / "out", 0)
    test = load_prepared(tmp_path / "out").test.images[..., 0]
    assert test.shape == (N_TEST, 18, 18)
    # 3 pixels of padding: 1 top/left, 2 bottom/right.
    assert not test[:, :1].any() and not test[:, 16:].any() and not test[:, :, :1].any() and not test[:, :, 16:].any()
    assert test[:, 1:16, 1:16].any(axis=(1, 2)).all()


# --- source: download ---------------------------------------------------------------------------


@pytest.fixture
def official(tmp_path, monkeypatch) -> Path:
    """Test IDX files standing in for the official ones; the md5 table accepts them."""
    src = tmp_path / "served"
    make_idx_folder(src)
    monkeypatch.setattr(fashion, "FASHION_MD5", {f: md5(src / f) for f in fashion.FASHION_MD5})
    return src


def serving(src: Path, calls: list[str]):
    """A stand-in for torchvision's downloader that serves the files in ``src``."""

    def fake_download(url, root, filename):
        calls.append(url)
        shutil.copy(src / url.rsplit("/", 1)[1], Path(root) / filename)

    return fake_download


def test_download_then_prepare(official, tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(cifar, "download_url", serving(official, calls))
    raw = tmp_path / "raw"
    cfg = in_folder(raw, val_size=10)
    meta = prepare_dataset("fashion_mnist", cfg, tmp_path / "out", 0)
    assert calls == fashion.fashion_urls()
    assert all(url.startswith("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/") for url in calls)
    folder = raw / "fashion_mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(fashion.FASHION_MD5)
    assert meta["source"] == {"kind": "download", "url": fashion.FASHION_MIRROR, "path": str(folder)}
    assert meta["description"] == "Fashion-MNIST (official); validation 10 images (default 5,000)"
    assert meta["provenance"]["official"] is True and meta["counts"]["test"] == N_TEST
    # Verified files present: no second download.
    monkeypatch.setattr(cifar, "download_url", lambda *a: pytest.fail("must not download again"))
    assert prepare_dataset("fashion_mnist", cfg, tmp_path / "out", 0)["checksum"] == meta["checksum"]


def test_download_offline_error(official, tmp_path, monkeypatch):
    def offline(url, root, filename):
        (Path(root) / filename).write_bytes(b"partial")  # as torchvision leaves an interrupted file
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(cifar, "download_url", offline)
    raw = tmp_path / "raw"
    with pytest.raises(RotnetError) as err:
        prepare_dataset("fashion_mnist", in_folder(raw), tmp_path / "out", 0)
    message = str(err.value)
    assert all(url in message for url in fashion.fashion_urls())
    assert str(raw / "fashion_mnist") in message
    assert "`rotnet data add fashion_mnist FOLDER` and datasets.fashion_mnist.source: idx" in message
    assert "name resolution" in message
    assert list((raw / "fashion_mnist").iterdir()) == []  # no partial download left behind
    assert not (tmp_path / "out").exists()


def test_download_with_wrong_md5_is_not_kept(official, tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "download_url", lambda url, root, filename: (Path(root) / filename).write_bytes(b"x"))
    raw = tmp_path / "raw"
    with pytest.raises(RotnetError, match="a truncated or altered download"):
        prepare_dataset("fashion_mnist", in_folder(raw), tmp_path / "out", 0)
    assert list((raw / "fashion_mnist").iterdir()) == []


def test_existing_file_with_wrong_md5_is_reported_not_overwritten(official, tmp_path, monkeypatch):
    folder = tmp_path / "raw" / "fashion_mnist"
    folder.mkdir(parents=True)
    bad = folder / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(b"not the file")
    calls: list[str] = []
    monkeypatch.setattr(cifar, "download_url", serving(official, calls))
    with pytest.raises(RotnetError, match="Delete it and download it again") as err:
        prepare_dataset("fashion_mnist", in_folder(tmp_path / "raw"), tmp_path / "out", 0)
    assert str(bad) in str(err.value) and hashlib.md5(b"not the file").hexdigest() in str(err.value)
    assert bad.read_bytes() == b"not the file"
    # The files before it in the table were fetched; the bad one was never downloaded over.
    assert calls == fashion.fashion_urls()[:2]
