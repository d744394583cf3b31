"""A full disk (ENOSPC): the run stops with a clear error naming the file and what
survived, the previous checkpoint, model and prepared data stay intact, no temporary is
left behind, and once there is room again a rerun finishes."""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from rotnet.atomic import DiskFull
from rotnet.data.prepared import load_prepared
from rotnet.models.saved import load_model_file
from rotnet.params import load_params
from rotnet.stages import prepare, supervised
from tests.faults.projects import (
    CKPT,
    MODEL,
    TRAIN,
    leftovers,
    prepare_project,
    run_here,
    training_project,
)


@contextlib.contextmanager
def full_disk(owner: object, name: str, match: str, nth: int = 1) -> Iterator[None]:
    """While open, ``owner.name`` (a writer whose first argument is the file) fails with
    ENOSPC half-way through its ``nth`` write of a file whose path contains ``match``."""
    real = getattr(owner, name)
    seen = [0]

    def writer(file, *args, **kwargs):
        if match in os.fspath(file):
            seen[0] += 1
            if seen[0] == nth:
                with open(file, "wb") as f:
                    f.write(b"the first half")
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(file, *args, **kwargs)

    setattr(owner, name, writer)
    try:
        yield
    finally:
        setattr(owner, name, real)


def test_a_full_disk_at_a_checkpoint_stops_the_run_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    training_project(tmp_path, seed=0)
    monkeypatch.chdir(tmp_path)
    params = load_params("params.yaml")
    with full_disk(pathlib.Path, "write_bytes", ".last.pt.rotnet-", nth=2), pytest.raises(DiskFull) as err:
        supervised.run(params, "cifar10", "nin")
    message = str(err.value)
    assert f"no space left to write {CKPT} (No space left on device)" in message
    assert "the previous last.pt is unchanged" in message and "df -h" in message
    ckpt = torch.load(CKPT, weights_only=True)
    assert ckpt["epoch"] == 1 and not ckpt["complete"]  # the first checkpoint, whole
    assert leftovers(tmp_path) == [] and not Path(MODEL).exists()

    supervised.run(params, "cifar10", "nin")  # room again: it resumes and finishes
    assert load_model_file(MODEL, "supervised")["num_classes"] == 4


def test_a_full_disk_at_the_model_keeps_the_previous_model(tmp_path, monkeypatch):
    training_project(tmp_path, seed=0)
    monkeypatch.chdir(tmp_path)
    supervised.run(load_params("params.yaml"), "cifar10", "nin")
    old = Path(MODEL).read_bytes()
    training_project(tmp_path, seed=1)
    with full_disk(pathlib.Path, "write_bytes", ".model.pt.rotnet-"), pytest.raises(DiskFull, match="model.pt is unch"):
        supervised.run(load_params("params.yaml"), "cifar10", "nin")
    assert Path(MODEL).read_bytes() == old and leftovers(tmp_path) == []


def test_a_full_disk_while_preparing_keeps_the_previous_dataset(tmp_path, monkeypatch):
    prepare_project(tmp_path, seed=0)
    monkeypatch.chdir(tmp_path)
    prepare.run(load_params("params.yaml"), "fashion")
    folder = Path("data/prepared/fashion")
    old = load_prepared(folder).meta
    prepare_project(tmp_path, seed=1)
    with full_disk(np, "save", "test_images.npy"), pytest.raises(DiskFull) as err:
        prepare.run(load_params("params.yaml"), "fashion")
    assert "no space left to write data/prepared/fashion" in str(err.value)
    assert "the previous fashion is unchanged" in str(err.value)
    assert load_prepared(folder).meta == old and leftovers(tmp_path / "data") == []


def _can_mount_tmpfs() -> str | None:
    """Why a private tmpfs cannot be mounted here, or None when it can."""
    if not shutil.which("unshare"):
        return "no unshare command"
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k none /tmp && echo ok"],
        capture_output=True,
        text=True,
    )
    return None if probe.stdout.strip() == "ok" else f"no private mounts here ({probe.stderr.strip()[:120]})"


# The model's folder on a tmpfs of its own, filled up: a real ENOSPC from the kernel.
FULL_MODELS = r"""
set -u
models=models/cifar10/nin/supervised
cp -r "$models" saved
mount -t tmpfs -o size=1m none models
mkdir -p "$models" && cp saved/* "$models"/
cat /dev/zero > models/filler 2>/dev/null
"$PYTHON" "$SCRIPT" --dataset cifar10 --backbone nin
echo "exit=$?"
cmp -s saved/model.pt "$models"/model.pt && echo "model kept"
ls -A "$models"
"""


def test_a_real_full_file_system_stops_the_stage_with_the_old_model_intact(tmp_path, monkeypatch):
    why = _can_mount_tmpfs()
    if why:
        pytest.skip(f"needs a private tmpfs mount (unshare -rm): {why}")
    training_project(tmp_path, seed=0)
    run_here(monkeypatch, tmp_path, TRAIN)
    training_project(tmp_path, seed=1)
    shutil.rmtree(tmp_path / "checkpoints")  # a fresh run: it trains, then writes its model
    env = {**os.environ, "PYTHON": sys.executable, "SCRIPT": str(Path(__file__).resolve().parents[2] / TRAIN[0])}
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", FULL_MODELS], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    out = done.stdout.split()
    assert "exit=2" in out, done.stdout + done.stderr
    assert "error: no space left to write models/cifar10/nin/supervised/model.pt (No space left on device); " in (
        done.stderr
    )
    assert "the previous model.pt is unchanged" in done.stderr
    assert "model kept" in done.stdout
    assert not [name for name in out if ".rotnet-" in name]  # no temporary left in the full folder
