"""`rotnet data add DATASET [PATH]`: put a dataset's source into data/raw/<dataset> and track it.

The copy (or the official download, without PATH) is swapped in whole, then `dvc add`ed and
its .dvc file staged in git, as DVC's own `dvc add` flow does. The prepare stage depends on
that folder, so the study's results follow the data's content, not the path a copy sat at.
A different source already there is replaced only with --replace, and only when DVC's
cache holds it (what data/raw/<dataset>.dvc records): nothing a user made is lost.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from rotnet import paths
from rotnet.data.prepare import official
from rotnet.data.raw import held, place_copy, place_download
from rotnet.errors import RotnetError
from rotnet.params import load_params


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True)


def _dvc(*args: str) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "dvc", *args])


def _check_in_cache(raw: Path, dvc_file: Path) -> None:
    """Refuse to replace a source that DVC could not give back."""
    if not held(raw):
        return
    if not dvc_file.is_file():
        raise RotnetError(
            f"{raw} holds a source that no {dvc_file} records, so DVC's cache may not hold it and --replace "
            "would lose it; move it away first"
        )
    done = _dvc("status", "--json", str(dvc_file))
    if done.returncode != 0 or json.loads(done.stdout or "{}"):
        raise RotnetError(
            f"{raw} differs from what {dvc_file} records (or `dvc status` failed), so DVC's cache may not hold it "
            "and --replace would lose it; move it away first, or `dvc add` it and commit before replacing"
        )


def _expected_source(dataset: str, src: Path | None) -> str | None:
    """A note when params.yaml's datasets.<dataset>.source does not read what was added."""
    if not Path("params.yaml").is_file():
        return None
    try:
        params = load_params("params.yaml")
    except RotnetError:
        return None  # the stages will say what is wrong with it
    if dataset not in params.datasets:
        return f"params.yaml has no datasets.{dataset}: add it (source: imagefolder, ...) and list it in study.datasets"
    source = params.datasets[dataset].source
    if src is None and source != "download":
        return f"params.yaml's datasets.{dataset}.source is {source}; runs on the official files set it to download"
    if src is not None and source == "download":
        return (
            f"params.yaml's datasets.{dataset}.source is download; runs on {src.name} set it to what it is "
            f"(imagefolder, cifar-archive or idx: -S datasets.{dataset}.source=..., as make quick does)"
        )
    return None


def add(dataset: str, src: Path | None, replace: bool = False) -> list[str]:
    """Put the source in place (from the project root) and track it; the lines to print."""
    raw = paths.raw_dir(dataset)
    dvc_file = raw.parent / f"{dataset}.dvc"
    in_dvc = Path(".dvc").is_dir()
    if replace and in_dvc:
        _check_in_cache(raw, dvc_file)
    elif replace and held(raw):
        raise RotnetError(f"{raw} is not tracked by DVC (no .dvc/ here): --replace would lose it; move it away first")
    if src is None:
        files = official(dataset)
        changed = place_download(dataset, raw, files.download, files.entry, replace)
        what = "the official files"
    else:
        changed = place_copy(dataset, src, raw, replace)
        what = str(src)
    lines = [f"{raw} {'now holds' if changed else 'already holds'} {what}"]
    if in_dvc:
        done = _dvc("add", "-q", str(raw))
        if done.returncode != 0:
            raise RotnetError(f"`dvc add {raw}` failed:\n{done.stdout}{done.stderr}")
        if Path(".git").exists():
            # DVC writes data/raw/.gitignore only where the project's own does not ignore the data.
            staged = [str(p) for p in (dvc_file, raw.parent / ".gitignore") if p.is_file()]
            done = _run(["git", "add", *staged])
            if done.returncode != 0:
                raise RotnetError(f"`git add {' '.join(staged)}` failed:\n{done.stderr}")
            lines.append(f"{dvc_file} records it (staged in git: commit it with the study)")
    else:
        lines.append("not a DVC project here: nothing tracks it (run from the project root)")
    note = _expected_source(dataset, src)
    if note:
        lines.append(f"note: {note}")
    return lines


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The `rotnet data add` subcommand."""
    data = sub.add_parser("data", help="put a dataset's source into data/raw/<dataset>, tracked by DVC")
    acts = data.add_subparsers(dest="action", required=True)
    add_cmd = acts.add_parser(
        "add",
        help="copy an archive or folder (or, without PATH, download the official files) into data/raw/<dataset>",
    )
    add_cmd.add_argument("dataset", help="a key of params.yaml's datasets (cifar10, fashion_mnist, ...)")
    add_cmd.add_argument("path", nargs="?", help="the archive file or folder; omit it for the official download")
    add_cmd.add_argument(
        "--replace", action="store_true", help="replace a different source already there (kept in DVC's cache)"
    )


def main(args: argparse.Namespace) -> None:
    src = Path(args.path) if args.path else None
    for line in add(args.dataset, src, args.replace):
        print(line)
