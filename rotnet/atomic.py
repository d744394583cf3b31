"""Write outputs atomically: a temporary file in the target folder, then rename.

A killed stage therefore never leaves a half-written model, metrics file or dataset.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    With ``overwrite=False`` an existing ``target`` is left as it is and FileExistsError is
    raised: the file is published by a hard link, which fails if the name exists (no window
    between a check and the write for another writer to slip into).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if overwrite:
            os.replace(tmp_path, target)
        else:
            _publish_new(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def _publish_new(tmp: Path, target: Path) -> None:
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system (FAT, some network shares): check, then rename
        if os.path.lexists(target):
            raise FileExistsError(17, "File exists", str(target)) from None
        os.replace(tmp, target)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; swap it in for ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def torch_bytes(obj: Any) -> bytes:
    """``torch.save`` output that depends on ``obj`` alone. Saved to a file, the archive
    takes the file's name as its root folder, so an atomic temporary name would make two
    identical models differ byte for byte (and DVC rerun everything downstream)."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def write_text(target: str | os.PathLike[str], text: str, overwrite: bool = True) -> None:
    with atomic_path(target, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    write_text(target, json.dumps(data, indent=2, sort_keys=False) + "\n")
