"""`rotnet orient`: put photos upright with a RotNet (rotation-pretrained) model.

Rotation label k means "shown turned k x 90 degrees counter-clockwise". The score for
"this photo is turned by k" averages the model over the photo's four rotations j
(predicting class (k + j) mod 4 for rotation j), which is steadier than one pass.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from rotnet.atomic import atomic_path, write_text
from rotnet.errors import RotnetError
from rotnet.inference.images import MAX_PIXELS, expand, read_batches
from rotnet.inference.model import load_model


def rotation_scores(probs_by_turn: list[torch.Tensor]) -> torch.Tensor:
    """(N, 4) probability that each photo is turned k x 90 degrees, from the model's
    outputs on the photo turned a further j x 90 degrees (j = 0..3)."""
    scores = torch.zeros_like(probs_by_turn[0])
    for j, probs in enumerate(probs_by_turn):
        scores += torch.roll(probs, shifts=-j, dims=1)  # column k holds p(class (k + j) mod 4)
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
        batch = m.prepare(images)
        turns = [m.probabilities(np.ascontiguousarray(np.rot90(batch, j, axes=(1, 2)))) for j in range(4)]
        scores = rotation_scores(turns)
        conf, k = scores.max(dim=1)
        for path, kk, cc in zip(good, k.tolist(), conf.tolist(), strict=True):
            target = out / path.name
            with Image.open(path) as original:
                upright = ImageOps.exif_transpose(original).rotate(-90 * kk, expand=True)  # undo k CCW turns
                with atomic_path(target) as tmp:
                    upright.save(tmp, format=original.format or "PNG")
            rows.append(
                {"file": str(path), "angle": 90 * kk, "confidence": round(cc, 4), "output": str(target), "error": ""}
            )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["file", "angle", "confidence", "output", "error"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "orientation.csv", buf.getvalue())
    return rows
