"""Model files: weights plus what is needed to rebuild and use them, written atomically."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from rotnet.atomic import atomic_path
from rotnet.errors import RotnetError
from rotnet.models.base import Backbone
from rotnet.models.registry import create_backbone

FORMAT = "rotnet-model-v1"


def file_sha256(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load_checkpoint(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Load a rotnet file safely (weights_only); check its kind when given."""
    path = Path(path)
    if not path.is_file():
        raise RotnetError(f"model file {path} not found; run the stage that writes it first")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for damaged files
        raise RotnetError(
            f"{path} is not a readable rotnet model file ({type(err).__name__}: {err}); rerun the stage that wrote it"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise RotnetError(f"{path} is not a rotnet model file (format {FORMAT} expected)")
    if kind is not None and ckpt.get("kind") != kind:
        raise RotnetError(f"{path} holds a '{ckpt.get('kind')}' model, but a '{kind}' model is needed here")
    return ckpt


def model_state(model: Backbone, **info: Any) -> dict[str, Any]:
    """What a backbone file records: enough to rebuild it without params.yaml."""
    return {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **info}


def build_from_checkpoint(ckpt: dict[str, Any]) -> Backbone:
    model = create_backbone(
        ckpt["backbone"], num_classes=ckpt["num_classes"], in_chans=ckpt["in_chans"], options=ckpt["backbone_options"]
    )
    model.load_state_dict(ckpt["state_dict"])
    return model
