"""Atomic writes: whole or nothing, nothing replaced unasked, leftovers of dead writers
cleaned (and only theirs), a full disk as a clear error. The kills themselves are in
tests/faults/."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys

import pytest

from rotnet import atomic
from rotnet.atomic import DiskFull, atomic_dir, atomic_path, remove_stale_temps, write_text


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_failed_write_leaves_the_target_and_no_temporary(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.write_bytes(b"new, half")
        raise ValueError("the writer failed")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.pt"]


def test_without_overwrite_an_existing_target_is_kept(tmp_path):
    target = tmp_path / "a.csv"
    write_text(target, "mine")
    with pytest.raises(FileExistsError):
        write_text(target, "theirs", overwrite=False)
    assert target.read_text() == "mine" and os.listdir(tmp_path) == ["a.csv"]


def test_leftovers_of_dead_writers_are_removed_and_nothing_else(tmp_path):
    dead, alive = dead_pid(), os.getpid()
    stale = tmp_path / f".model.pt.rotnet-{dead}-abc123.tmp"
    live = tmp_path / f".model.pt.rotnet-{alive}-def456.tmp"
    stale_dir = tmp_path / f".prepared.rotnet-{dead}-x1.tmp"
    users = [tmp_path / f".model.pt.{dead}.tmp", tmp_path / "notes.rotnet-1-a.tmp", tmp_path / ".x.rotnet-a-b.tmp"]
    for path in (stale, live, *users):
        path.write_bytes(b"x")
    stale_dir.mkdir()
    (stale_dir / "train_images.npy").write_bytes(b"x")

    removed = remove_stale_temps(tmp_path)
    assert sorted(removed) == sorted([stale, stale_dir])
    assert live.exists() and all(p.exists() for p in users)  # a live writer's, and files we did not make


def test_an_old_folder_left_aside_by_a_killed_swap_is_put_back(tmp_path):
    aside = tmp_path / f".cifar10.rotnet-{dead_pid()}-q9.old"
    aside.mkdir()
    (aside / "meta.json").write_text("{}")
    remove_stale_temps(tmp_path, "cifar10")
    assert (tmp_path / "cifar10" / "meta.json").read_text() == "{}" and not aside.exists()


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_a_folder_is_swapped_in_whole(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    target = tmp_path / "cifar10"
    target.mkdir()
    (target / "old.npy").write_bytes(b"old")
    with atomic_dir(target) as tmp:
        (tmp / "new.npy").write_bytes(b"new")
        assert os.listdir(target) == ["old.npy"]  # nothing visible until the swap
    assert os.listdir(target) == ["new.npy"] and os.listdir(tmp_path) == ["cifar10"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_or_quota_is_a_clear_error_and_the_target_is_kept(tmp_path, code):
    target = tmp_path / "last.pt"
    target.write_bytes(b"epoch 3")
    with pytest.raises(DiskFull) as err, atomic_path(target):
        raise OSError(code, os.strerror(code))
    assert str(err.value).startswith(f"no space left to write {target} ({os.strerror(code)}); ")
    assert "the previous last.pt is unchanged" in str(err.value) and f"df -h {tmp_path}" in str(err.value)
    assert target.read_bytes() == b"epoch 3" and os.listdir(tmp_path) == ["last.pt"]


def test_other_os_errors_pass_through(tmp_path):
    with pytest.raises(PermissionError), atomic_path(tmp_path / "x"):
        raise PermissionError(errno.EACCES, "denied")


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_and_folders_get_the_mode_open_and_mkdir_would_give(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_text(tmp_path / "metrics.json", "{}")
        with atomic_path(tmp_path / "model.pt") as tmp:
            tmp.write_bytes(b"weights")
        with atomic_dir(tmp_path / "folder") as folder:
            (folder / "inside.txt").write_text("x")
        (tmp_path / "plain.txt").write_text("x")  # what open() gives, for comparison
        (tmp_path / "plain").mkdir()
    finally:
        os.umask(old)
    file_mode = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert file_mode == 0o666 & ~umask
    for name in ("metrics.json", "model.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == file_mode, name
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o777 & ~umask
