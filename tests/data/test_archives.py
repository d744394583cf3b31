"""Reading a file tree in place (rotnet.data.archives): a folder, a tar or a zip give the same
files; unsafe members, damage and trees over the limits are refused before anything is read."""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from rotnet.data.archives import TreeLimits, is_archive, open_tree
from rotnet.errors import RotnetError
from tests.data.cifar_files import add_member

FILES = {"train/cat/0.png": b"cat0", "train/dog/0.png": b"dog00", "test/cat/1.jpg": b"c1"}


def _folder(root: Path) -> Path:
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _tar(path: Path, extra: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(path, "w:gz" if path.name.endswith("gz") else "w") as tf:
        for name, data in {**FILES, **(extra or {})}.items():
            add_member(tf, name, data)
    return path


def _zip(path: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in {**FILES, **(extra or {})}.items():
            zf.writestr(name, data)
    return path


def _read_all(path: Path, limits: TreeLimits | None = None) -> dict[str, bytes]:
    with open_tree(path, limits) as tree:
        return dict(tree.read(tree.files))


@pytest.mark.parametrize("kind", ["folder", "tar.gz", "tar", "zip"])
def test_every_kind_of_tree_lists_and_reads_the_same_files(tmp_path, kind):
    if kind == "folder":
        path = _folder(tmp_path / "pets")
    else:
        path = (_zip if kind == "zip" else _tar)(tmp_path / f"pets.{kind}")
    assert is_archive(path) == (kind != "folder")
    with open_tree(path) as tree:
        assert sorted(tree.files) == sorted(FILES)
        assert tree.dirs == {"train", "train/cat", "train/dog", "test", "test/cat"}  # parents, listed or not
        assert dict(tree.read(reversed(tree.files))) == FILES
        shown = tree.shown("train/cat/0.png")
        assert shown == (str(path / "train/cat/0.png") if kind == "folder" else f"{path}:train/cat/0.png")
        assert tree.shown("") == str(path)


@pytest.mark.parametrize("member", ["../evil.png", "/tmp/evil.png", "pets/../../evil.png", "C:/evil.png"])
@pytest.mark.parametrize("make", [_tar, _zip])
def test_members_that_escape_are_refused(tmp_path, make, member):
    archive = make(tmp_path / ("evil.zip" if make is _zip else "evil.tar"), {member: b"x"})
    with pytest.raises(RotnetError, match="refusing archive member") as err:
        _read_all(archive)
    assert f"'{member}' (absolute paths and '..' are not allowed)" in str(err.value)
    assert "rebuild the archive with plain files under train/<class>/" in str(err.value)
    assert not (tmp_path / "evil.png").exists()


def test_links_are_refused(tmp_path):
    with tarfile.open(tmp_path / "links.tar", "w") as tf:
        link = tarfile.TarInfo("train/cat/link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    with pytest.raises(RotnetError, match="'train/cat/link.png' \\(links and special files are not allowed\\)"):
        _read_all(tmp_path / "links.tar")
    archive = _zip(tmp_path / "links.zip")
    with zipfile.ZipFile(archive, "a") as zf:
        info = zipfile.ZipInfo("train/cat/link.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(RotnetError, match="'train/cat/link.png' \\(symbolic links are not allowed\\)"):
        _read_all(archive)


@pytest.mark.parametrize("kind", ["folder", "tar", "zip"])
def test_limits_stop_the_listing(tmp_path, kind):
    path = {
        "folder": lambda: _folder(tmp_path / "p"),
        "tar": lambda: _tar(tmp_path / "p.tar"),
        "zip": lambda: _zip(tmp_path / "p.zip"),
    }[kind]()
    with pytest.raises(RotnetError, match="has more than 2 files .*raise datasets.pets.max_files"):
        _read_all(path, TreeLimits(max_files=2, max_total_mb=1, key="datasets.pets"))
    with pytest.raises(RotnetError, match="over the limit datasets.pets.max_total_mb: 8e-06"):
        _read_all(path, TreeLimits(max_files=10, max_total_mb=8e-6, key="datasets.pets"))  # 8 bytes
    assert _read_all(path, TreeLimits(max_files=3, max_total_mb=11e-6, key="datasets.pets")) == FILES  # 11: fits


def test_damaged_and_unknown_archives_are_named(tmp_path):
    archive = _tar(tmp_path / "pets.tar.gz")
    archive.write_bytes(archive.read_bytes()[:-30])
    with pytest.raises(RotnetError, match=f"cannot read archive {archive}: .*damaged or incomplete, copy it again"):
        _read_all(archive)
    (tmp_path / "pets.rar").write_bytes(b"x")
    with pytest.raises(RotnetError, match="pets.rar: unsupported archive type; use a folder, .tar.gz"):
        _read_all(tmp_path / "pets.rar")
