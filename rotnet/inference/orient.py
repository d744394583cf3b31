"""`rotnet orient`: put photos upright with a RotNet (rotation-pretrained) model.

Uses the rotation pretext task of training (``rotnet.rotation``): label k means "shown
turned ANGLES[k] degrees counter-clockwise". The score for "this photo is turned by k"
averages the model over the photo at every angle j (predicting class (k + j) mod
NUM_ROTATIONS for turn j), which is steadier than one pass. It needs a RotNet trained on
the four right angles (``pretrain.rotations`` at its default): one trained on another set
(2 angles, or the 45-degree eight) cannot name every right-angle turn of a photo, so it is
refused with a message naming its set. A RotNet trained masked (``pretrain.mask: circle``,
recorded in its model file) is shown every turned photo masked, as it was trained.

Where the upright copies go: ``--out`` mirrors the inputs. A photo found in a folder
argument keeps its path relative to that folder (``photos/x/a.jpg`` from ``photos/`` ->
``OUT/x/a.jpg``); a file argument keeps its file name (``OUT/a.jpg``). A photo named twice
(the same resolved file through two arguments, or a file and the folder holding it) is
oriented once, under the name of its first mention. Two different photos that would still
get the same output (file arguments ``p/a.jpg q/a.jpg``, a folder's ``a.jpg`` and a file
argument ``a.jpg``, or two folder arguments that both hold ``a.jpg``) are refused before
anything is written, naming both: give one folder that holds both, or rename one. Nothing
is replaced (an upright copy or ``orientation.csv`` already in ``--out``) unless
``overwrite`` is set; that check, too, comes before any writing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageOps

from rotnet.atomic import atomic_path, remove_stale_temps
from rotnet.errors import RotnetError
from rotnet.inference.images import MAX_PIXELS, distinct, expand, read_batches
from rotnet.inference.model import InferenceModel, load_model
from rotnet.locks import FolderLock
from rotnet.progress import log
from rotnet.rotation import ANGLES, NUM_ROTATIONS, rotate


def rotation_scores(probs_by_turn: list[torch.Tensor]) -> torch.Tensor:
    """(N, NUM_ROTATIONS) probability that each photo is turned by ANGLES[k], from the
    model's outputs on the photo turned a further ANGLES[j] (j = 0..NUM_ROTATIONS - 1)."""
    scores = torch.zeros_like(probs_by_turn[0])
    for j, probs in enumerate(probs_by_turn):
        scores += torch.roll(probs, shifts=-j, dims=1)  # column k holds p(class (k + j) mod NUM_ROTATIONS)
    return scores / len(probs_by_turn)


def plan(inputs: list[str], out_dir: str | Path) -> list[tuple[Path, Path]]:
    """(photo, its upright copy's path) per distinct photo, in argument order (see the module
    docstring). Files that do not exist are kept (their row gets the error) but claim no output."""
    out = Path(out_dir)
    mirrored = (
        (path, out / (path.relative_to(item) if item.is_dir() else path.name))
        for item in map(Path, inputs)
        for path in expand([item])
    )
    pairs = distinct(mirrored, path=lambda pair: pair[0])
    claimed: dict[Path, Path] = {}
    for path, target in pairs:
        if not path.is_file():
            continue
        # Resolved, so that two names for one place (a symlinked folder under --out) count as one.
        other = claimed.setdefault(target.resolve(), path)
        if other is not path:
            raise RotnetError(
                f"{other} and {path} would both be written to {target}; give one folder that holds both "
                "(orient mirrors the tree under a folder argument into --out) or rename one"
            )
    return pairs


def orient(
    model_path: str | Path,
    inputs: list[str],
    out_dir: str | Path,
    device: torch.device,
    batch_size: int = 128,
    max_pixels: int = MAX_PIXELS,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Write an upright copy of each photo under ``out_dir`` and ``orientation.csv`` listing
    them; one row per distinct input: its angle, confidence and output, or its error."""
    m = load_model(model_path, ("pretrain",), device, "orient needs a RotNet model (models/<data>/<net>/pretrain)")
    if m.rotations != ANGLES:
        raise RotnetError(
            f"{model_path} is a RotNet trained on rotations {list(m.rotations or ())}; orient needs one trained on "
            f"the four right angles {list(ANGLES)} (pretrain.rotations, the default): pretrain one with those"
        )
    if not m.view.identity:
        log(f"{model_path}: shown every photo as it was trained: {m.view.describe()}")
    out = Path(out_dir)
    pairs = plan(inputs, out)
    inputs_resolved = {p.resolve() for p, _ in pairs}
    if any(out.resolve() == p.parent for p in inputs_resolved) or any(t.resolve() in inputs_resolved for _, t in pairs):
        raise RotnetError(f"--out {out} holds input images; choose another folder (inputs are never overwritten)")
    table = out / "orientation.csv"
    # A second orient into the same folder stops here, before it looks at what is there.
    with FolderLock(out, "rotnet orient"):
        outputs = [table, *(t for p, t in pairs if p.is_file())]
        existing = {t for t in outputs if os.path.lexists(t)}
        if existing and not overwrite:
            first = next(t for t in outputs if t in existing)
            more = f" (and {len(existing) - 1} more of its outputs)" if len(existing) > 1 else ""
            raise RotnetError(
                f"{first} already exists{more}; orient wrote nothing: choose another --out folder, "
                "or pass --overwrite to replace them"
            )
        for folder in {table.parent, *(t.parent for _, t in pairs)}:
            if folder.is_dir():  # once per folder, not per photo: what killed runs left there
                remove_stale_temps(folder)
        return _write_upright(m, pairs, existing, table, batch_size, max_pixels)


def _write_upright(
    m: InferenceModel,
    pairs: list[tuple[Path, Path]],
    existing: set[Path],
    table: Path,
    batch_size: int,
    max_pixels: int,
) -> list[dict[str, Any]]:
    targets = dict(pairs)
    rows: list[dict[str, Any]] = []
    for good, images, errors in read_batches([p for p, _ in pairs], m.mode, batch_size, max_pixels, "orient"):
        rows += [
            {"file": str(path), "angle": "", "confidence": "", "output": "", "error": err}
            for path, err in errors.items()
        ]
        if not good:
            continue
        x = m.tensor(m.prepare(images))
        turns = [m.probabilities(rotate(x, j)) for j in range(NUM_ROTATIONS)]
        scores = rotation_scores(turns)
        conf, k = scores.max(dim=1)
        for path, kk, cc in zip(good, k.tolist(), conf.tolist(), strict=True):
            target = targets[path]
            with Image.open(path) as original:
                # Undo the counter-clockwise turn (PIL turns counter-clockwise by positive angles).
                upright = ImageOps.exif_transpose(original).rotate(-ANGLES[kk], expand=True)
                # Only files that were there at the check may be replaced: one that appeared since
                # (another writer, or a name this file system folds onto another's) is kept.
                with _publishing(target, replace=target in existing) as tmp:
                    upright.save(tmp, format=original.format or "PNG")
            rows.append(
                {"file": str(path), "angle": ANGLES[kk], "confidence": round(cc, 4), "output": str(target), "error": ""}
            )
    order = {str(p): i for i, (p, _) in enumerate(pairs)}
    rows.sort(key=lambda r: order[r["file"]])  # argument order, as predict lists them
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["file", "angle", "confidence", "output", "error"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with _publishing(table, replace=table in existing) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return rows


@contextlib.contextmanager
def _publishing(target: Path, replace: bool) -> Iterator[Path]:
    try:
        with atomic_path(target, overwrite=replace, clean=False) as tmp:
            yield tmp
    except FileExistsError:
        raise RotnetError(
            f"{target} appeared while orient ran (another program, or two output names this file system "
            "treats as one); it was left as it is and orient stopped: rerun into an empty --out folder"
        ) from None
