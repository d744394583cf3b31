"""Read a file tree in place: a folder, or a .tar.gz/.tgz/.tar/.zip archive without extracting it.

Reading archive members straight into memory is much faster than extracting tens of thousands
of small files (CIFAR-10 as JPEGs: about 1 s against 20-50 s here), never writes beside a
read-only archive, and leaves nothing behind. Archives come from outside the project, so
members that are absolute, climb out with '..', or are links or devices are refused anyway:
they are never part of a valid image-folder dataset. Limits on the number of files and on the
uncompressed size are checked while listing, before anything is read or decompressed further.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from rotnet.errors import RotnetError

TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
ZIP_SUFFIXES = (".zip",)
# What a damaged or truncated archive raises while it is listed or read.
ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError)


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(TAR_SUFFIXES + ZIP_SUFFIXES)


@dataclass(frozen=True)
class TreeLimits:
    """Refuse trees with more files or more (uncompressed) bytes than this."""

    max_files: int
    max_total_mb: float  # MB = 10**6 bytes
    key: str  # params section named in the message, e.g. "datasets.pets"


class _Budget:
    """Counts files and bytes while a tree is listed; raises as soon as a limit is passed.

    Stopping early matters for archives: a tar must be decompressed to be listed, so a huge or
    malicious one is refused without decompressing it all or holding millions of entries.
    """

    def __init__(self, location: Path, limits: TreeLimits | None) -> None:
        self.location, self.limits = location, limits
        self.files = 0
        self.bytes = 0

    def add(self, size: int) -> None:
        self.files += 1
        self.bytes += size
        limits = self.limits
        if limits is None:
            return
        if self.files > limits.max_files:
            raise RotnetError(
                f"{self.location} has more than {limits.max_files} files (listing stopped at {self.files}), "
                f"over the limit {limits.key}.max_files: {limits.max_files}; raise {limits.key}.max_files "
                "if the dataset really is that large"
            )
        if self.bytes > limits.max_total_mb * 1e6:
            raise RotnetError(
                f"{self.location} holds at least {self.bytes / 1e6:.1f} MB of uncompressed data (in its "
                f"first {self.files} files), over the limit {limits.key}.max_total_mb: {limits.max_total_mb:g}; "
                f"raise {limits.key}.max_total_mb if the dataset really is that large"
            )


@dataclass
class FileTree:
    """Regular files (relative POSIX paths) and folders of a tree, and a way to read files."""

    location: Path  # the folder or archive, for messages
    files: list[str]
    dirs: set[str]  # every folder, including the parents of files
    # Yields (name, bytes) for the given names, in whatever order is cheapest for the storage.
    read: Callable[[Iterable[str]], Iterator[tuple[str, bytes]]]

    def shown(self, name: str) -> str:
        """How messages name a file or folder of the tree."""
        if not name:
            return str(self.location)
        return str(self.location / name) if self.location.is_dir() else f"{self.location}:{name}"


def _with_parents(files: list[str], dirs: set[str]) -> set[str]:
    """``dirs`` plus every parent folder of ``files`` (archives need not list folders)."""
    for name in files:
        parent = name.rpartition("/")[0]
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = parent.rpartition("/")[0]
    dirs.discard(".")
    return dirs


def _escapes(name: str) -> bool:
    """True for a member name that is absolute or climbs out with '..' (POSIX or Windows style)."""
    posix, win = PurePosixPath(name), PureWindowsPath(name)
    return posix.is_absolute() or bool(win.drive or win.root) or ".." in posix.parts or ".." in win.parts


def _refuse(archive: Path, member: str, why: str) -> RotnetError:
    return RotnetError(
        f"{archive}: refusing archive member '{member}' ({why}); "
        "rebuild the archive with plain files under train/<class>/ and test/<class>/"
    )


def _damaged(archive: Path, err: BaseException) -> RotnetError:
    return RotnetError(f"cannot read archive {archive}: {err}; it is damaged or incomplete, copy it again")


@contextlib.contextmanager
def open_tree(path: Path, limits: TreeLimits | None = None) -> Iterator[FileTree]:
    """Open a folder or archive as a FileTree; RotnetError for unsafe, damaged, unknown or too large trees."""
    budget = _Budget(path, limits)
    if path.is_dir():
        yield _folder_tree(path, budget)
        return
    name = path.name.lower()
    if not name.endswith(TAR_SUFFIXES + ZIP_SUFFIXES):
        raise RotnetError(f"{path}: unsupported archive type; use a folder, .tar.gz, .tgz, .tar or .zip")
    with contextlib.ExitStack() as stack:
        try:
            if name.endswith(ZIP_SUFFIXES):
                tree = _zip_tree(path, stack.enter_context(zipfile.ZipFile(path)), budget)
            else:
                tree = _tar_tree(path, stack.enter_context(tarfile.open(path, "r:*")), budget)
        except ARCHIVE_ERRORS as err:
            raise _damaged(path, err) from None
        yield tree


def _folder_tree(root: Path, budget: _Budget) -> FileTree:
    files: list[str] = []
    dirs: set[str] = set()
    for folder, dirnames, filenames in os.walk(root):
        rel = Path(folder).relative_to(root)
        dirs.update((rel / d).as_posix() for d in dirnames)
        for f in filenames:
            # stat() follows file symlinks; sockets, fifos, broken links and the like are skipped.
            try:
                st = os.stat(Path(folder) / f)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                budget.add(st.st_size)
                files.append((rel / f).as_posix())

    def read(names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        for name in names:
            yield name, (root / name).read_bytes()

    return FileTree(root, files, _with_parents(files, dirs), read)


def _tar_tree(archive: Path, tf: tarfile.TarFile, budget: _Budget) -> FileTree:
    members: dict[str, tarfile.TarInfo] = {}
    dirs: set[str] = set()
    for member in tf:  # one pass over the (decompressed) stream lists every member
        if _escapes(member.name):
            raise _refuse(archive, member.name, "absolute paths and '..' are not allowed")
        name = PurePosixPath(member.name).as_posix()  # drops './' prefixes and trailing '/'
        if member.isdir():
            dirs.add(name)
        elif member.isfile():
            budget.add(member.size)  # from the header: nothing is decompressed beyond the listing
            members[name] = member
        else:
            raise _refuse(archive, member.name, "links and special files are not allowed")

    def read(names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        # In archive order, so a compressed stream is decompressed once more, not once per seek back.
        try:
            for name in sorted(names, key=lambda n: members[n].offset):
                f = tf.extractfile(members[name])
                if f is None:  # cannot happen for regular files; keeps the type checker honest
                    raise tarfile.ReadError(f"member {name} has no data")
                with f:
                    yield name, f.read()
        except ARCHIVE_ERRORS as err:
            raise _damaged(archive, err) from None

    files = list(members)
    return FileTree(archive, files, _with_parents(files, dirs), read)


def _zip_tree(archive: Path, zf: zipfile.ZipFile, budget: _Budget) -> FileTree:
    members: dict[str, zipfile.ZipInfo] = {}
    dirs: set[str] = set()
    for info in zf.infolist():
        if _escapes(info.filename):
            raise _refuse(archive, info.filename, "absolute paths and '..' are not allowed")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _refuse(archive, info.filename, "symbolic links are not allowed")
        name = PurePosixPath(info.filename).as_posix()
        if info.is_dir():
            dirs.add(name)
        else:
            budget.add(info.file_size)  # uncompressed size from the central directory
            members[name] = info

    def read(names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        try:
            for name in names:
                yield name, zf.read(members[name])
        except ARCHIVE_ERRORS as err:
            raise _damaged(archive, err) from None

    files = list(members)
    return FileTree(archive, files, _with_parents(files, dirs), read)
