"""`rotnet orient`: put photos upright with a RotNet (rotation-pretrained) model.

Uses the rotation pretext task of training (``rotnet.rotation``): label k means "shown
turned ANGLES[k] degrees counter-clockwise". The score for "this photo is turned by k"
averages the model over the photo at every angle j (predicting class (k + j) mod
NUM_ROTATIONS for turn j), which is steadier than one pass. It needs a RotNet trained on
the four right angles (``pretrain.rotations`` at its default): one trained on another set
(2 angles, or the 45-degree eight) cannot name every right-angle turn of a photo, so it is
refused with a message naming its set.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageOps

from rotnet.atomic import atomic_path, write_text
from rotnet.errors import RotnetError
from rotnet.inference.images import MAX_PIXELS, expand, read_batches
from rotnet.inference.model import load_model
from rotnet.rotation import ANGLES, NUM_ROTATIONS, rotate


def rotation_scores(probs_by_turn: list[torch.Tensor]) -> torch.Tensor:
    """(N, NUM_ROTATIONS) probability that each photo is turned by ANGLES[k], from the
    model's outputs on the photo turned a further ANGLES[j] (j = 0..NUM_ROTATIONS - 1)."""
    scores = torch.zeros_like(probs_by_turn[0])
    for j, probs in enumerate(probs_by_turn):
        scores += torch.roll(probs, shifts=-j, dims=1)  # column k holds p(class (k + j) mod NUM_ROTATIONS)
    return scores / len(probs_by_turn)


def orient(
    model_path: str | Path,
    inputs: list[str],
    out_dir: str | Path,
    device: torch.device,
    batch_size: int = 128,
    max_pixels: int = MAX_PIXELS,
) -> list[dict[str, Any]]:
    m = load_model(model_path, ("pretrain",), device, "orient needs a RotNet model (models/<data>/<net>/pretrain)")
    if m.rotations != ANGLES:
        raise RotnetError(
            f"{model_path} is a RotNet trained on rotations {list(m.rotations or ())}; orient needs one trained on "
            f"the four right angles {list(ANGLES)} (pretrain.rotations, the default): pretrain one with those"
        )
    out = Path(out_dir)
    files = expand(inputs)
    if any(out.resolve() == p.resolve().parent for p in files):
        raise RotnetError(f"--out {out} holds input images; choose another folder (inputs are never overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for good, images, errors in read_batches(files, m.mode, batch_size, max_pixels, "orient"):
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
            target = out / path.name
            with Image.open(path) as original:
                # Undo the counter-clockwise turn (PIL turns counter-clockwise by positive angles).
                upright = ImageOps.exif_transpose(original).rotate(-ANGLES[kk], expand=True)
                with atomic_path(target) as tmp:
                    upright.save(tmp, format=original.format or "PNG")
            rows.append(
                {"file": str(path), "angle": ANGLES[kk], "confidence": round(cc, 4), "output": str(target), "error": ""}
            )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["file", "angle", "confidence", "output", "error"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "orientation.csv", buf.getvalue())
    return rows
