"""Write outputs atomically: a temporary file in the target folder, then rename.

What a kill (even ``kill -9``) at any moment leaves, for a direct run:
- the target is the old version, intact, or the new one, complete: never a mix;
- the temporary copy is hidden (``.<name>.rotnet-<pid>-<random>.tmp``) and never read as
  the target; the next write in that folder deletes those of processes that are gone.

A full disk (ENOSPC, or a quota) stops the write with a RotnetError that says what
survived; the target is left as it was.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rotnet.errors import RotnetError

TEMP_TAG = "rotnet-"  # in every temporary name: only files that carry it are ever cleaned up
_RENAME_EXCHANGE = 2  # linux/fs.h


class DiskFull(RotnetError):
    pass


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _temp_parts(name: str) -> tuple[str, int] | None:
    """(target name, writer pid) of a temporary name of ours
    (``.<target>.rotnet-<pid>-<random>.<tmp|old>``), or None for any other name."""
    if not name.startswith(".") or not name.endswith((".tmp", ".old")):
        return None
    target, _, tag = name[1:-4].rpartition(".")
    pid = tag.removeprefix(TEMP_TAG).partition("-")[0]
    return (target, int(pid)) if tag.startswith(TEMP_TAG) and pid.isdigit() else None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_stale_temps(folder: Path, name: str | None = None) -> list[Path]:
    """Delete what killed writers left in ``folder`` (of ``name`` only, when given): their
    temporary copies and the old folders they had swapped out. A live writer keeps its own;
    an old folder whose target is missing (killed between the two renames of the fallback
    swap) is put back instead."""
    removed = []
    pattern = f".{glob.escape(name)}.{TEMP_TAG}*" if name else f".*.{TEMP_TAG}*"
    for path in sorted(folder.glob(pattern)):
        parts = _temp_parts(path.name)
        if parts is None or process_alive(parts[1]):
            continue
        target = folder / parts[0]
        if path.name.endswith(".old") and not os.path.lexists(target):
            os.replace(path, target)  # the swap never finished: the old version is the good one
            continue
        _remove(path)
        removed.append(path)
    return removed


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.{TEMP_TAG}{os.getpid()}-"


def _disk_full(target: Path, err: OSError) -> DiskFull:
    kept = f"the previous {target.name} is unchanged" if target.exists() else f"no {target.name} was written"
    return DiskFull(
        f"no space left to write {target} ({err.strerror}); {kept}. Free space where it goes "
        f"(df -h {target.parent}) and rerun"
    )


@contextlib.contextmanager
def _full_disk_as_error(target: Path) -> Iterator[None]:
    try:
        yield
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _disk_full(target, err) from None
        raise


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and put back at once
    os.umask(mask)
    return mask


def _as_open_would(path: Path, mode: int) -> None:
    """Give a temporary the mode that open() or mkdir() would have given the target: mkstemp
    and mkdtemp make them private (0600, 0700), and a renamed file keeps its mode."""
    os.chmod(path, mode & ~_umask())


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], overwrite: bool = True, clean: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    With ``overwrite=False`` an existing ``target`` is left as it is and FileExistsError is
    raised: the file is published by a hard link, which fails if the name exists (no window
    between a check and the write for another writer to slip into). ``clean=False`` skips
    the look for killed writers' leftovers (for callers writing many files to one folder,
    which clean it once).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if clean:
        remove_stale_temps(target.parent, target.name)
    with _full_disk_as_error(target):
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            _as_open_would(tmp_path, 0o666)
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


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # this kernel or file system cannot swap
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(tmp: Path, target: Path) -> None:
    """Make ``tmp`` the folder ``target``, so that a kill at any moment leaves one of the two
    whole at ``target``: one atomic swap where the system has it, else two renames whose gap
    ``remove_stale_temps`` repairs (it puts the old folder back)."""
    if not target.exists():
        os.replace(tmp, target)
        return
    if _exchange(tmp, target):  # tmp now holds the old folder; the caller deletes it
        return
    old = tmp.with_suffix(".old")  # named as a temporary of ours: a later cleanup knows it
    os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; swap it in for ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target.parent, target.name)
    with _full_disk_as_error(target):
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent))
        try:
            _as_open_would(tmp, 0o777)
            yield tmp
            _swap_in(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def torch_bytes(obj: Any) -> bytes:
    """``torch.save`` output that depends on ``obj`` alone. Saved to a file, the archive
    takes the file's name as its root folder, so an atomic temporary name would make two
    identical models differ byte for byte (and DVC rerun everything downstream). Written
    by Python, a full disk also raises ENOSPC rather than torch's opaque RuntimeError."""
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
