"""Model files for the inference tests: a backbone saved as a stage saves it."""

from __future__ import annotations

from pathlib import Path

import torch

from rotnet.data.prepared import PreparedDataset
from rotnet.models.saved import model_state, save_model_file


def save_model(path: Path, model: torch.nn.Module, kind: str, classes: int, data: PreparedDataset) -> Path:
    """``model`` (a NIN of width 16 on 16x16 RGB images of ``data``) as a ``kind`` model file."""
    info = dict(
        kind=kind,
        backbone="nin",
        backbone_options={"width": 16},
        num_classes=classes,
        in_chans=3,
        input_size=[16, 16],
        mean=data.mean,
        std=data.std,
        class_names=data.class_names,
    )
    save_model_file(path, model_state(model, **info))
    return path
