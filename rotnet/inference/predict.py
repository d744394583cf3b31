"""`rotnet predict`: top-k class predictions of a trained classifier on any images."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import torch

from rotnet.inference.images import MAX_PIXELS, distinct, expand, read_batches
from rotnet.inference.model import load_model
from rotnet.progress import log

CLASSIFIERS = ("supervised", "finetune", "supervised_rot", "ssl_finetune")


def predict(
    model_path: str | Path,
    inputs: list[str],
    device: torch.device,
    top_k: int = 3,
    batch_size: int = 256,
    max_pixels: int = MAX_PIXELS,
) -> list[dict[str, Any]]:
    """One row per input file: its top-k classes and probabilities, or its error."""
    hint = "predict needs a supervised, finetune or supervised_rot model.pt (or an ssl_finetune one)"
    m = load_model(model_path, CLASSIFIERS, device, hint)
    if m.joint_rotations:
        log(
            f"{model_path}: a joint (class, rotation) model: each image's class scores average its "
            f"{len(m.joint_rotations)} rotated copies' log-probabilities, as its test did"
        )
    if not m.view.identity:
        log(f"{model_path}: shown every image as it was trained: {m.view.describe()}")
    k = min(top_k, len(m.class_names))
    files = distinct(expand(inputs))
    rows: list[dict[str, Any]] = []
    for good, images, errors in read_batches(files, m.mode, batch_size, max_pixels, "predict"):
        rows += [{"file": str(path), "error": err} for path, err in errors.items()]
        if not good:
            continue
        probs = m.probabilities(m.prepare(images))
        values, indices = probs.topk(k, dim=1)
        for path, vals, idx in zip(good, values.tolist(), indices.tolist(), strict=True):
            preds = [{"class": m.class_names[i], "probability": round(v, 4)} for v, i in zip(vals, idx, strict=True)]
            rows.append({"file": str(path), "predictions": preds})
    order = {str(p): i for i, p in enumerate(files)}
    return sorted(rows, key=lambda r: order[r["file"]])


def render(rows: list[dict[str, Any]], fmt: str, top_k: int) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    header = ["file"] + [f"{w}{i + 1}" for i in range(top_k) for w in ("class", "p")] + ["error"]
    table = []
    for r in rows:
        cells = [r["file"]]
        for i in range(top_k):
            pred = r.get("predictions", [])[i] if i < len(r.get("predictions", [])) else None
            cells += [pred["class"], f"{pred['probability']:.4f}"] if pred else ["", ""]
        table.append([*cells, r.get("error", "")])
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(table)
        return buf.getvalue()
    widths = [max(len(str(c)) for c in col) for col in zip(header, *table, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *table]]
    return "\n".join(lines) + "\n"
