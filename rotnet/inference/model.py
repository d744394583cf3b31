"""A trained model file, ready for inference: rebuilt backbone, normalisation, classes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rotnet.data.shape import pad_images
from rotnet.errors import RotnetError
from rotnet.inference.images import to_batch
from rotnet.models.base import Backbone
from rotnet.models.saved import build_model, input_view, load_model_file
from rotnet.rotation import ANGLES, InputView, joint_class_scores, labels_of, rotate_all


@dataclass
class InferenceModel:
    model: Backbone
    kind: str
    class_names: list[str]
    input_size: tuple[int, int]
    in_chans: int
    mean: torch.Tensor  # (1, C, 1, 1), 0-255 scale
    std: torch.Tensor
    device: torch.device
    content_size: tuple[int, int] | None = None  # before zero padding to input_size, if the data was padded
    rotations: tuple[int, ...] | None = None  # a RotNet's angle set (label i = rotations[i]); None otherwise
    # A joint (class, rotation) classifier's angle set (supervised_rot, mode joint): its class
    # probabilities aggregate every rotated copy, as its test did. None otherwise.
    joint_rotations: tuple[int, ...] | None = None
    # How the model saw its upright inputs (the mask and shared offset its file records;
    # images as they are for files without them): every input is shown to it that way.
    view: InputView = field(default_factory=InputView)
    recorded_view: bool = False  # whether the file records it (joint models before it: as then)

    def prepare(self, images: list[Image.Image]) -> np.ndarray:
        """PIL images -> (N, H, W, C) uint8 inputs, made the way the training data was."""
        if self.content_size and tuple(self.content_size) != tuple(self.input_size):
            return pad_images(to_batch(images, self.content_size), self.input_size[0])
        return to_batch(images, self.input_size)

    @property
    def mode(self) -> str:
        return "L" if self.in_chans == 1 else "RGB"

    def tensor(self, batch: np.ndarray) -> torch.Tensor:
        """(N, H, W, C) uint8 images -> (N, C, H, W) float on the model's device (0-255 scale,
        channels-last in memory)."""
        return torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float()

    @torch.no_grad()
    def probabilities(self, images: np.ndarray | torch.Tensor, upright_only: bool = False) -> torch.Tensor:
        """Softmax over classes for (N, H, W, C) uint8 images or a ``tensor()`` batch. A joint
        model aggregates its rotated copies, or with ``upright_only`` reads the upright copy's
        (class, 0) scores alone (the two figures its stage reports)."""
        x = self.tensor(images) if isinstance(images, np.ndarray) else images
        x = x.contiguous(memory_format=torch.channels_last)  # as read (NHWC), whatever turned it
        x = (x - self.mean) / self.std
        if self.joint_rotations is None:
            return torch.softmax(self.model(self.view.apply(x)).float(), dim=1).cpu()
        angles = self.joint_rotations[:1] if upright_only else self.joint_rotations
        if len(angles) == 1:
            rotated = self.view.apply(x)
        elif self.recorded_view:
            rotated = rotate_all(x, angles, self.view.mask, self.view.offset)[0]
        else:  # a file from before the fields: its copies as rotate_all made them then
            rotated = rotate_all(x, angles, offset=0.0)[0]
        copies = joint_class_scores(self.model(rotated), len(x), len(self.class_names), len(self.joint_rotations))
        return torch.softmax(copies.mean(0), dim=1).cpu()


def load_model(path: str | Path, kinds: tuple[str, ...], device: torch.device, hint: str) -> InferenceModel:
    """Load a model file of one of ``kinds``; any other kind gets ``hint`` in its error."""
    ckpt = load_model_file(path)
    if ckpt.get("kind") not in kinds:
        raise RotnetError(f"{path} holds a '{ckpt.get('kind')}' model; {hint}")
    model = build_model(ckpt).to(device).eval()
    shape = (1, -1, 1, 1)
    # Model files saved before pretrain.rotations existed carry no angle set: the default one.
    rotations = tuple(int(a) for a in ckpt.get("rotations") or ANGLES) if ckpt["kind"] == "pretrain" else None
    names = labels_of(rotations) if rotations else list(ckpt["class_names"])
    joint = tuple(int(a) for a in ckpt["rotations"]) if ckpt.get("mode") == "joint" else None
    return InferenceModel(
        model=model,
        kind=ckpt["kind"],
        class_names=names,
        input_size=tuple(ckpt["input_size"]),
        in_chans=int(ckpt["in_chans"]),
        mean=torch.tensor(ckpt["mean"], device=device).view(shape) * 255,
        std=torch.tensor(ckpt["std"], device=device).view(shape) * 255,
        device=device,
        content_size=tuple((ckpt.get("preprocess") or {}).get("content_size") or ()) or None,
        rotations=rotations,
        joint_rotations=joint,
        view=input_view(ckpt),
        recorded_view="mask" in ckpt,
    )
