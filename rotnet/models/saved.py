"""Model files: weights plus what is needed to rebuild and use them.

Written atomically and byte-stably: the same state always gives the same bytes, so DVC
sees an unchanged model as unchanged.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from rotnet.atomic import torch_bytes, write_bytes
from rotnet.errors import RotnetError
from rotnet.models.base import Backbone
from rotnet.models.heads import with_head
from rotnet.models.registry import create_backbone
from rotnet.rotation import InputView

FORMAT = "rotnet-model-v1"


def file_sha256(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def model_state(model: Backbone, **info: Any) -> dict[str, Any]:
    """What a backbone file records: its weights on the CPU, and ``info`` (enough to
    rebuild it without params.yaml: backbone, backbone_options, num_classes, in_chans, ...)."""
    return {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **info}


def save_model_file(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``{"format": FORMAT, **state}`` atomically; identical states give identical bytes."""
    write_bytes(path, torch_bytes({"format": FORMAT, **state}))


def load_model_file(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Load a rotnet model file safely (weights_only); check its kind when given."""
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


def build_model(ckpt: dict[str, Any]) -> Backbone:
    """Rebuild the network a loaded model file describes, with its weights: the backbone, or,
    when the file has a ``cut`` (the paper's fine-tuning setting), the backbone up to that map
    plus the head it names."""
    model = create_backbone(
        ckpt["backbone"], num_classes=ckpt["num_classes"], in_chans=ckpt["in_chans"], options=ckpt["backbone_options"]
    )
    cut = ckpt.get("cut")
    if cut:
        shape = torch.Size(cut["map_shape"])
        model = with_head(model, cut["layer"], cut["head"], ckpt["num_classes"], shape, cut["hidden"])  # type: ignore[assignment]
    model.load_state_dict(ckpt["state_dict"])
    return model


def input_view(ckpt: dict[str, Any]) -> InputView:
    """How the model in a loaded file saw its (label-0, upright) inputs: the ``mask`` and
    ``rotation_offset`` fields a rotation-trained model records (pretrain, supervised_rot).
    A file without them (made before they existed, or of images as they are) reads as
    images as they are, which is what everything did with such files before."""
    return InputView.from_record(ckpt) or InputView()
