"""Exclusive locks (rotnet.locks): a second writer fails at once naming the first; a lock
goes with its holder, however the holder ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from rotnet.errors import RotnetError
from rotnet.locks import FolderLock, StageLock
from tests.conftest import REPO_ROOT


def test_a_second_stage_lock_fails_naming_the_holder_until_the_first_is_released(tmp_path):
    path = tmp_path / "locks" / "pretrain@cifar10-nin.lock"  # its folder is made
    with StageLock(path, "pretrain@cifar10-nin"):
        assert path.read_text() == str(os.getpid())
        with pytest.raises(RotnetError) as err:
            StageLock(path, "pretrain@cifar10-nin").acquire()
        assert str(err.value) == (
            f"pretrain@cifar10-nin is already running (pid {os.getpid()}, lock {path}); "
            "wait for it to finish or stop it"
        )
    with StageLock(path, "pretrain@cifar10-nin"):  # released on exit: free again
        pass
    other = StageLock(tmp_path / "locks" / "other.lock", "other")
    other.acquire()  # another instance's lock is another file
    other.release()
    other.release()  # twice is harmless


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    path = tmp_path / "s.lock"
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom rotnet.locks import StageLock\n"
        f"StageLock(Path({str(path)!r}), 's').acquire()\nprint('held', flush=True)\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RotnetError, match=f"pid {proc.pid}"):
            StageLock(path, "s").acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with StageLock(path, "s"):
        assert path.read_text() == str(os.getpid())  # the dead holder's pid is replaced


def test_a_folder_lock_adds_no_file_and_refuses_a_second_writer(tmp_path):
    out = tmp_path / "upright"
    with FolderLock(out, "rotnet orient"):
        assert out.is_dir() and list(out.iterdir()) == []
        with pytest.raises(RotnetError, match=f"another rotnet orient is writing to {out} right now"):
            FolderLock(out, "rotnet orient").__enter__()
    with FolderLock(out, "rotnet orient"):
        pass
    assert list(out.iterdir()) == []
