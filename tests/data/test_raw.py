"""data/raw/<dataset>: one source per dataset, copied in whole, replaced only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from rotnet.data.raw import link_source, place_copy, place_download, same_source, source_in
from rotnet.errors import RotnetError


def _folder(root: Path, text: str = "a") -> Path:
    (root / "train" / "cat").mkdir(parents=True)
    (root / "train" / "cat" / "0.png").write_text(text)
    (root / "test").mkdir()
    return root


def test_a_copy_is_found_kept_when_the_same_and_replaced_only_when_asked(tmp_path):
    raw = tmp_path / "data/raw/pets"
    with pytest.raises(RotnetError, match=r"data/raw/pets is missing.*rotnet data add pets PATH"):
        source_in("pets", raw)
    src = _folder(tmp_path / "pets")
    src.chmod(0o555)  # a read-only shared folder: its copy must still be replaceable
    assert place_copy("pets", src, raw) is True
    assert source_in("pets", raw) == raw / "pets" and (raw / "pets/train/cat/0.png").read_text() == "a"
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "pets").symlink_to(src)  # the same content at another path: nothing to do
    assert place_copy("pets", moved / "pets", raw) is False

    other = _folder(tmp_path / "other" / "pets", "b")
    with pytest.raises(RotnetError, match="already holds pets, not pets; pass --replace"):
        place_copy("pets", other, raw)
    assert (raw / "pets/train/cat/0.png").read_text() == "a"  # untouched
    assert place_copy("pets", other, raw, replace=True) is True
    assert (raw / "pets/train/cat/0.png").read_text() == "b" and len(list(raw.parent.iterdir())) == 1

    (raw / "extra.zip").write_text("x")
    with pytest.raises(RotnetError, match="holds extra.zip, pets; it must hold exactly one source"):
        source_in("pets", raw)
    with pytest.raises(RotnetError, match="inside"):
        place_copy("pets", raw / "pets", raw, replace=True)
    with pytest.raises(RotnetError, match="does not exist"):
        place_copy("pets", tmp_path / "nowhere", raw)


def test_same_source_compares_names_and_bytes(tmp_path):
    a, b = _folder(tmp_path / "a" / "x"), _folder(tmp_path / "b" / "x")
    assert same_source(a, b)
    (b / "test" / "1.png").write_text("new")
    assert not same_source(a, b)
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "x").write_text("z")
    assert not same_source(a, tmp_path / "f" / "x")


def test_the_official_download_is_fetched_once(tmp_path):
    calls = []

    def download(folder: Path, name: str) -> Path:
        target = folder / "official.tar.gz"
        if not target.exists():
            calls.append(name)
            target.write_text("official")
        return target

    raw = tmp_path / "raw" / "cifar10"
    assert place_download("cifar10", raw, download, "official.tar.gz") is True
    assert place_download("cifar10", raw, download, "official.tar.gz") is False and calls == ["cifar10"]
    place_copy("cifar10", _folder(tmp_path / "mini"), raw, replace=True)
    with pytest.raises(RotnetError, match="already holds mini, not the official download"):
        place_download("cifar10", raw, download, "official.tar.gz")
    assert place_download("cifar10", raw, download, "official.tar.gz", replace=True) is True
    assert [p.name for p in raw.iterdir()] == ["official.tar.gz"]


def test_a_scratch_project_links_its_source(tmp_path):
    src = _folder(tmp_path / "pets")
    raw = tmp_path / "work/data/raw/pets"
    assert link_source("pets", src, raw) == raw and source_in("pets", raw).resolve() == src
    assert link_source("pets", src, raw) == raw  # a resumed run's folder
    with pytest.raises(RotnetError, match="holds another source"):
        link_source("pets", _folder(tmp_path / "other"), raw)
