"""The rotation pretext task (RotNet), defined once for training and for `rotnet orient`.

A RotNet is trained on a set of angles (``pretrain.rotations``; the paper's default is
ANGLES = 0/90/180/270). Label i means "shown turned angles[i] degrees counter-clockwise";
a batch carries every image at every angle of the set, ordered [all images at
angles[0], all at angles[1], ...], as the paper does.

Right angles turn with ``torch.rot90``: exact, and for the default set bit-identical to
the four-rotation code this module started as. The paper's Table 2 also trains on the
eight multiples of 45 degrees; the official code refuses such angles, so that row is this
project's construction. Two things would give a 45-degree copy's angle away without any
content being read, and both are equalised across every copy of such a set:

- Corners. A square turned by 45 degrees leaves its corners empty. The mask
  (``pretrain.mask``): everything outside the image's inscribed circle (pixel centres
  farther than side/2 from the centre) is set to 0 (the dataset mean, after
  normalisation), on every copy. Inside the circle a turned image is all content, and the
  mask is the same at every angle. ``auto`` (the default) masks exactly the sets that hold
  a non-right angle, as before; ``circle`` also masks a right-angle set (the "4 rotations +
  mask" control of `rotnet ablations`); ``none`` never masks. We chose the circle over a
  centred crop of side/sqrt(2) resized back: it keeps the scale and resolution the probes
  see (the crop would zoom in 1.41x and drop half the image) and loses only the corners
  (21% of the area).
- Sharpness. Bilinear resampling blurs; ``rot90`` does not. And resampling a right angle
  through ``grid_sample`` does not blur it either: at an exact multiple of 90 every
  sample lands on a pixel centre and the input comes back unchanged. So when a set holds
  a non-right angle, every copy is turned by its angle plus one shared offset,
  SHARED_OFFSET = 22.5 degrees, bilinearly. Every angle is then 90m +/- 22.5, and a
  rotation by 90m + 22.5 samples the pixel grid exactly as the one by 22.5 does, turned
  by 90m (the grid is centred, so rot90 maps it onto itself), while 90m - 22.5 is its
  mirror image. Every copy thus gets the same resampling, up to the symmetries of the
  square grid, and every statistic those symmetries leave alone (mean |Laplacian|, the
  histogram of the interpolation weights) is equal across the angles; on a set closed
  under horizontal flips (what flip augmentation trains on) exactly, up to float rounding
  (tests/test_rotation.py). 22.5 is the only offset with that property: a small one (1 to
  10 degrees) leaves the right-angle copies' centres nearly unresampled (on 512 CIFAR-10
  images the mean |Laplacian| of the eight then spreads by 1 to 10% of its mean, against
  23% with no offset and 0.2% with 22.5, the images' own asymmetry). What remains: the
  odd copies' blur pattern is the mirror image of the even ones' (its handedness, not its
  strength, differs), and the copy labelled 0 is shown turned by 22.5 degrees, which is
  why a model file records the offset (``InputView``): the probes, `rotnet predict` and
  `rotnet orient` show a model its inputs as it saw its label-0 copy. Sets of right angles
  only get no offset, ever.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

ANGLES: tuple[int, ...] = (0, 90, 180, 270)
NUM_ROTATIONS = len(ANGLES)
LABELS: list[str] = [str(a) for a in ANGLES]  # class names of a RotNet model


def labels_of(angles: Sequence[int]) -> list[str]:
    """Class names of a RotNet trained on ``angles``: the angles in degrees."""
    return [str(a) for a in angles]


def check_angles(angles: Sequence[int]) -> tuple[int, ...]:
    """The angle set as a tuple; ValueError unless multiples of 45 in [0, 360), unique,
    at least 2, increasing (params.PretrainParams says the same with the key's name)."""
    out = tuple(int(a) for a in angles)
    if len(out) < 2 or any(a % 45 or not 0 <= a < 360 for a in out) or list(out) != sorted(set(out)):
        raise ValueError(f"rotation angles must be 2+ increasing, unique multiples of 45 in [0, 360), got {list(out)}")
    return out


def rotate(x: torch.Tensor, label: int) -> torch.Tensor:
    """Turn a (..., H, W) batch by ANGLES[label] degrees counter-clockwise."""
    return torch.rot90(x, label, dims=(-2, -1))


MASKS = ("auto", "circle", "none")  # pretrain.mask
SHARED_OFFSET = 22.5  # degrees added to every angle of a set that holds a non-right angle


def _interpolated(x: torch.Tensor, angle: float) -> torch.Tensor:
    """Turn a (B, C, H, W) batch by ``angle`` degrees counter-clockwise, bilinearly, in one
    grid_sample (the corners it cannot fill repeat the border; ``circle_mask`` hides them)."""
    src = x if x.is_floating_point() else x.float()
    t = math.radians(angle)
    c, s = math.cos(t), math.sin(t)
    # affine_grid maps each output location (x right, y down, in [-1, 1]) to where it
    # samples the input: the inverse of turning the image counter-clockwise on screen.
    theta = torch.tensor([[c, -s, 0.0], [s, c, 0.0]], dtype=src.dtype, device=src.device)
    grid = F.affine_grid(theta.expand(src.shape[0], 2, 3), list(src.shape), align_corners=False)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if not x.is_floating_point():
        out = out.round().clamp(torch.iinfo(x.dtype).min, torch.iinfo(x.dtype).max).to(x.dtype)
    return out


def rotate_by(x: torch.Tensor, angle: float) -> torch.Tensor:
    """Turn a (B, C, H, W) batch by ``angle`` degrees counter-clockwise: rot90 for right
    angles, bilinear interpolation otherwise (no mask applied here)."""
    if angle % 90 == 0:
        return torch.rot90(x, int(angle // 90) % 4, dims=(-2, -1))
    return _interpolated(x, angle)


def circle_mask(size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(size, size) bool: True at the pixels whose centre lies within the inscribed circle."""
    r = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    return r.view(-1, 1) ** 2 + r.view(1, -1) ** 2 <= (size / 2) ** 2


def needs_mask(angles: Sequence[int]) -> bool:
    """Whether a set needs the circle mask: it does when any angle is not a right angle."""
    return any(a % 90 for a in angles)


def resolve_mask(mask: str, angles: Sequence[int]) -> bool:
    """Whether ``pretrain.mask`` (auto | circle | none) masks this angle set."""
    if mask not in MASKS:
        raise ValueError(f"mask must be one of {', '.join(MASKS)}, got {mask!r}")
    return needs_mask(angles) if mask == "auto" else mask == "circle"


def shared_offset(angles: Sequence[int]) -> float:
    """The offset every copy of this set is turned by on top of its angle: SHARED_OFFSET
    when the set holds a non-right angle (so that every copy is resampled alike), else 0."""
    return SHARED_OFFSET if needs_mask(angles) else 0.0


@dataclass(frozen=True)
class InputView:
    """How a model saw its label-0 (upright) inputs: turned by ``offset`` degrees
    (bilinearly; 0: untouched) and, with ``mask``, zeroed outside the inscribed circle.
    Model files record it (``record``); inference and the probes apply it (``apply``)."""

    mask: bool = False
    offset: float = 0.0

    @classmethod
    def of(cls, angles: Sequence[int], mask: str = "auto") -> InputView:
        """The view training on ``angles`` with ``pretrain.mask`` = ``mask`` gives."""
        angles = check_angles(angles)
        return cls(resolve_mask(mask, angles), shared_offset(angles))

    @property
    def identity(self) -> bool:
        return not self.mask and not self.offset

    def record(self) -> dict[str, Any]:
        """The model file's fields: ``mask`` ("circle" | "none") and ``rotation_offset`` (degrees)."""
        return {"mask": "circle" if self.mask else "none", "rotation_offset": float(self.offset)}

    @classmethod
    def from_record(cls, info: dict[str, Any]) -> InputView | None:
        """The view a model file (or run record) records; None when it predates these fields."""
        if "mask" not in info:
            return None
        return cls(info["mask"] == "circle", float(info.get("rotation_offset") or 0.0))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """A (B, C, H, W) batch (normalised: 0 is the mean) as the model's label-0 copies were made."""
        out = rotate_by(x, self.offset) if self.offset else x
        if self.mask:
            out = out.masked_fill(~circle_mask(x.shape[-1], x.device), 0)
        return out

    def describe(self) -> str:
        parts = (["inscribed-circle mask"] if self.mask else []) + (
            [f"turned {self.offset:g} degrees (bilinear)"] if self.offset else []
        )
        return ", ".join(parts) or "as is"


def rotate_all(
    x: torch.Tensor, angles: Sequence[int] = ANGLES, mask: bool | None = None, offset: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of a (B, C, H, W) batch at every angle of ``angles``, and the rotation
    labels (i for angles[i]). ``mask`` (default: the set's ``needs_mask``) masks every copy;
    ``offset`` (default: the set's ``shared_offset``) is added to every angle.

    Keeps channels-last input channels-last: rot90 and cat return NCHW, and a layout
    mismatch with channels-last weights costs ~20% on the CPU.
    """
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotation needs square images, got {x.shape[-2]}x{x.shape[-1]}")
    angles = check_angles(angles)
    mask = needs_mask(angles) if mask is None else mask
    offset = shared_offset(angles) if offset is None else offset
    if angles == ANGLES and not offset:  # the paper's four: exactly as this module always did
        rotated = torch.cat([rotate(x, k) for k in range(NUM_ROTATIONS)])
    else:
        rotated = torch.cat([rotate_by(x, a + offset) for a in angles])
    if mask:
        rotated = rotated.masked_fill(~circle_mask(x.shape[-1], x.device), 0)
    if x.is_contiguous(memory_format=torch.channels_last):
        rotated = rotated.contiguous(memory_format=torch.channels_last)
    labels = torch.arange(len(angles), device=x.device).repeat_interleave(x.shape[0])
    return rotated, labels


def joint_class_scores(logits: torch.Tensor, images: int, num_classes: int, rotations: int) -> torch.Tensor:
    """(copies, B, K): copy r's log-probability of (class c, rotation r) for every class c, from
    the joint head's (K x ``rotations`` outputs) logits of the first ``copies`` angles'
    copies, copy-major as ``rotate_all`` orders them (all R, or the upright one alone)."""
    copies = len(logits) // images
    logp = torch.log_softmax(logits.float(), dim=1).view(copies, images, num_classes, rotations)
    r = torch.arange(copies, device=logits.device)
    return logp[r, :, :, r]
