"""Exclusive locks, so that two processes never write the same outputs at once.

A second writer fails at once with a message naming the first, rather than waiting
unseen or interleaving its files with the first's. The locks are ``flock``s: the system
drops them when their process ends, however it ends (``kill -9`` included), so a killed
run never leaves a lock that blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from rotnet.errors import RotnetError


class _Flock:
    """An exclusive, non-blocking flock on an open file descriptor, released on exit."""

    _fd: int | None = None

    def _take(self, fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __exit__(self, *exc: object) -> None:
        self.release()


class StageLock(_Flock):
    """A lock file, holding the pid of the process that has it (for the message)."""

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not self._take(fd):
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RotnetError(
                f"{self.what} is already running (pid {holder}, lock {self.path}); wait for it to finish or stop it"
            )
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())

    def __enter__(self) -> StageLock:
        self.acquire()
        return self


class FolderLock(_Flock):
    """A lock on a folder itself (no file is added to it): for outputs a user names, such
    as ``rotnet orient --out``."""

    def __init__(self, folder: Path, what: str) -> None:
        self.folder, self.what = folder, what

    def __enter__(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        if not self._take(fd):
            os.close(fd)
            raise RotnetError(
                f"another {self.what} is writing to {self.folder} right now; wait for it to finish, "
                "or choose another folder"
            )
        return self
