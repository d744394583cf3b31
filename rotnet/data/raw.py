"""data/raw/<dataset>: a dataset's source inside the project, one entry per dataset.

`rotnet data add` puts it there (a copy of an archive or folder, or the official download)
and `dvc add`s it, and the prepare stage depends on that folder. So dvc.lock records the
data's checksum, never where a copy sat on one machine: moving the archive, a clone on
another machine or a queued experiment in a temporary folder reruns nothing, and
`dvc push`/`pull` carry the data with the results.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from rotnet.atomic import atomic_dir
from rotnet.errors import RotnetError


def held(raw: Path) -> list[Path]:
    """What ``raw`` holds, sorted; hidden names (a writer's temporaries) aside."""
    return sorted(p for p in raw.iterdir() if not p.name.startswith(".")) if raw.is_dir() else []


def source_in(dataset: str, raw: Path) -> Path:
    """The one source (archive file or folder) that ``raw`` holds."""
    if not raw.is_dir():
        raise RotnetError(
            f"{raw} is missing: dataset '{dataset}' has no source yet. `rotnet data add {dataset} PATH` copies an "
            "archive or folder there (without PATH: the official download), and after a clone `dvc pull` brings "
            "the committed one"
        )
    entries = held(raw)
    if len(entries) != 1:
        names = ", ".join(p.name for p in entries) or "nothing"
        raise RotnetError(
            f"{raw} holds {names}; it must hold exactly one source (an archive or a folder). "
            f"Put one there with `rotnet data add {dataset} PATH --replace`"
        )
    return entries[0]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def same_source(a: Path, b: Path) -> bool:
    """Whether two sources have the same name and the same bytes (files, or folders file by file)."""
    if a.name != b.name or a.is_dir() != b.is_dir():
        return False
    if a.is_file():
        return filecmp.cmp(a, b, shallow=False)
    names = _files(a)
    return names == _files(b) and all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def _copy(src: Path, dest: Path) -> None:
    # Contents only, with new files' usual modes: a read-only source (a shared dataset folder)
    # must not give read-only copies that a later --replace could not delete.
    if src.is_file():
        shutil.copyfile(src, dest)
        return
    for folder, _dirs, files in os.walk(src):
        target = dest / Path(folder).relative_to(src)
        target.mkdir(exist_ok=True)
        for name in files:
            shutil.copyfile(Path(folder) / name, target / name)


def _check_replace(dataset: str, raw: Path, replace: bool, what: str) -> None:
    if (names := [p.name for p in held(raw)]) and not replace:
        raise RotnetError(
            f"{raw} already holds {', '.join(names)}, not {what}; pass --replace to put {what} there instead, "
            f"or leave dataset '{dataset}' as it is"
        )


def place_copy(dataset: str, src: Path, raw: Path, replace: bool = False) -> bool:
    """Make ``raw`` hold a copy of ``src``, swapped in whole; False when it already did."""
    if not src.exists():
        raise RotnetError(f"{src} does not exist: give the archive file or folder of dataset '{dataset}'")
    if src.resolve().is_relative_to(raw.resolve()):
        raise RotnetError(f"{src} is inside {raw} already: give the original archive or folder")
    entries = held(raw)
    if len(entries) == 1 and same_source(entries[0], src):
        return False
    _check_replace(dataset, raw, replace, src.name)
    with atomic_dir(raw) as tmp:
        dest = tmp / src.name
        if src.is_dir():
            dest.mkdir()
        _copy(src, dest)
    return True


def place_download(
    dataset: str, raw: Path, download: Callable[[Path, str], Path], entry: str, replace: bool = False
) -> bool:
    """Make ``raw`` hold the official files that ``download`` fetches as ``entry``
    (checksum-checked); False when it already did (then nothing is downloaded)."""
    if [p.name for p in held(raw)] == [entry]:
        before = _files(raw)
        download(raw, dataset)  # verifies what is there; fetches only missing files
        return _files(raw) != before
    _check_replace(dataset, raw, replace, "the official download")
    with atomic_dir(raw) as tmp:
        download(tmp, dataset)
    return True


def link_source(dataset: str, src: Path, raw: Path) -> Path:
    """Make ``raw`` hold a link to ``src``: for scratch projects outside DVC (the stage pass,
    the GPU check), where a copy would only cost time."""
    if not src.exists():
        raise RotnetError(f"{src} does not exist: give the archive file or folder of dataset '{dataset}'")
    link = raw / src.name
    if link.is_symlink() and link.resolve() == src.resolve() and len(list(raw.iterdir())) == 1:
        return raw  # a resumed run's folder (the paper run continues across calls)
    if raw.exists():
        raise RotnetError(f"{raw} exists already and holds another source; give a fresh project folder")
    raw.mkdir(parents=True)
    link.symlink_to(src.resolve())
    return raw
