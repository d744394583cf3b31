"""The official CIFAR-10 python archive (rotnet.data.cifar): parsed straight from the tar.gz,
its md5 checked, downloaded only when absent and never left half-written."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from rotnet.data import cifar
from rotnet.errors import RotnetError
from tests.data.cifar_files import CIFAR_CLASSES, MARK, add_member, make_cifar_archive, md5
from tests.data.sources import in_folder, prepare_dataset, sourced


def test_cifar_archive_parses_shapes_labels_classes_and_pixel_layout(tiny_cifar):
    path, batches = tiny_cifar
    data = cifar.load_cifar_archive(path)
    assert data.train.images.shape == (100, 32, 32, 3) and data.train.images.dtype == np.uint8
    assert data.test.images.shape == (20, 32, 32, 3)
    assert data.train.labels.dtype == np.int64
    expected = np.concatenate([batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)])
    assert np.array_equal(data.train.labels, expected)
    assert data.test.labels.tolist() == batches["test_batch"][b"labels"]
    assert data.class_names == CIFAR_CLASSES
    assert tuple(data.train.images[0, 1, 2]) == MARK
    # Whole planes too: the red channel of image 5 is the first 1024 values of its row.
    assert np.array_equal(data.train.images[5, :, :, 0], batches["data_batch_1"][b"data"][5, :1024].reshape(32, 32))
    assert data.checksum == {"algorithm": "md5", "value": md5(path)}


def test_cifar_archive_md5_mismatch(tmp_path):
    path = tmp_path / "copy.tar.gz"
    make_cifar_archive(path)
    cfg = sourced(path, source="cifar-archive")
    with pytest.raises(RotnetError) as err:
        prepare_dataset("cifar10", cfg, tmp_path / "out", seed=0)
    message = str(err.value)
    assert str(path) in message and md5(path) in message and cifar.CIFAR10_MD5 in message
    assert "`rotnet data add cifar10 --replace`" in message and "`rotnet data add cifar10 PATH --replace`" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing member", "foreign pickle"])
def test_cifar_archive_damaged(tmp_path, monkeypatch, damage):
    path = tmp_path / "cifar.tar.gz"
    if damage == "missing member":
        make_cifar_archive(path, skip="test_batch")
    elif damage == "foreign pickle":  # objects other than arrays and containers are refused
        with tarfile.open(path, "w:gz") as tf:
            add_member(tf, "cifar-10-batches-py/data_batch_1", pickle.dumps(Path("/etc/passwd")))
    else:
        make_cifar_archive(path)
        good = path.read_bytes()
        bad = good[: len(good) // 2] if damage == "truncated" else np.random.default_rng(0).bytes(5000)
        path.write_bytes(bad)
    monkeypatch.setattr(cifar, "CIFAR10_MD5", md5(path))
    with pytest.raises(RotnetError, match="cannot read CIFAR-10 archive") as err:
        prepare_dataset("cifar10", sourced(path, source="cifar-archive"), tmp_path / "out", 0)
    assert str(path) in str(err.value)
    if damage == "missing member":
        assert "test_batch" in str(err.value)


def test_cifar_archive_missing_file(tmp_path):
    cfg = sourced(tmp_path / "nope.tar.gz", source="cifar-archive")
    with pytest.raises(RotnetError, match="nope.tar.gz not found"):
        prepare_dataset("cifar10", cfg, tmp_path / "out", 0)


def test_download_offline_error(tmp_path, monkeypatch):
    def offline(url, root, filename):
        (Path(root) / filename).write_bytes(b"partial")  # as torchvision leaves an interrupted file
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(cifar, "download_url", offline)
    raw = tmp_path / "raw"
    with pytest.raises(RotnetError) as err:
        prepare_dataset("cifar10", in_folder(raw), tmp_path / "out", 0)
    message = str(err.value)
    assert cifar.CIFAR10_URL in message
    assert str(raw / "cifar-10-python.tar.gz") in message
    assert "`rotnet data add cifar10 PATH` and set datasets.cifar10.source: cifar-archive" in message
    assert "name resolution" in message
    assert list(raw.iterdir()) == []  # no partial download left behind
    assert not (tmp_path / "out").exists()


def test_download_skipped_when_archive_present(tiny_cifar, tmp_path, monkeypatch):
    path, _ = tiny_cifar
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(path, raw / "cifar-10-python.tar.gz")

    def no_network(*args):
        raise AssertionError("must not download when a verified archive is present")

    monkeypatch.setattr(cifar, "download_url", no_network)
    meta = prepare_dataset("cifar10", in_folder(raw, val_size=10), tmp_path / "out", 0)
    assert meta["source"] == {
        "kind": "download",
        "url": cifar.CIFAR10_URL,
        "path": str(raw / "cifar-10-python.tar.gz"),
    }
    assert meta["counts"]["train"] == 90


def test_download_then_prepare(tiny_cifar, tmp_path, monkeypatch):
    path, _ = tiny_cifar
    calls = []

    def fake_download(url, root, filename):
        calls.append(url)
        shutil.copy(path, Path(root) / filename)

    monkeypatch.setattr(cifar, "download_url", fake_download)
    raw = tmp_path / "raw"
    meta = prepare_dataset("cifar10", in_folder(raw, val_size=10), tmp_path / "out", 0)
    assert calls == [cifar.CIFAR10_URL]
    assert [p.name for p in raw.iterdir()] == ["cifar-10-python.tar.gz"]
    assert meta["checksum"]["value"] == md5(path)


def test_download_with_wrong_md5_is_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "download_url", lambda url, root, filename: (Path(root) / filename).write_bytes(b"x"))
    raw = tmp_path / "raw"
    with pytest.raises(RotnetError, match=f"expected {cifar.CIFAR10_MD5}"):
        prepare_dataset("cifar10", in_folder(raw), tmp_path / "out", 0)
    assert list(raw.iterdir()) == []


def test_existing_download_with_wrong_md5(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "cifar-10-python.tar.gz").write_bytes(b"not the archive")
    monkeypatch.setattr(cifar, "download_url", lambda *a: pytest.fail("must not overwrite the user's file"))
    with pytest.raises(RotnetError, match="Delete it and download it again") as err:
        prepare_dataset("cifar10", in_folder(raw), tmp_path / "out", 0)
    assert str(raw / "cifar-10-python.tar.gz") in str(err.value)
    assert hashlib.md5(b"not the archive").hexdigest() in str(err.value)


def test_only_the_official_md5_passes(tmp_path):
    good = tmp_path / "a.tar.gz"
    good.write_bytes(b"official")
    assert cifar.file_md5(good) == hashlib.md5(b"official").hexdigest()
    assert not cifar.is_official_cifar10(cifar.file_md5(good)) and cifar.is_official_cifar10(cifar.CIFAR10_MD5)
    with pytest.raises(RotnetError, match=r"`rotnet data add mine --replace`.*`rotnet data add mine PATH --replace`"):
        cifar.check_md5(good, "mine")


def test_only_parts_of_dead_downloads_are_removed(tmp_path):
    target = tmp_path / "a.tar.gz"
    mine = tmp_path / f".a.tar.gz.{os.getpid()}.part"  # this process: alive
    dead = tmp_path / ".a.tar.gz.999999999.part"
    other = tmp_path / ".b.tar.gz.999999999.part"  # another file's download
    for part in (mine, dead, other):
        part.write_bytes(b"x")
    assert cifar.remove_stale_parts(target) == [dead]
    assert mine.exists() and other.exists() and not dead.exists()
