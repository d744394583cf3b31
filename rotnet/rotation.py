"""The rotation pretext task (RotNet), defined once for training and for `rotnet orient`.

A RotNet is trained on a set of angles (``pretrain.rotations``; the paper's default is
ANGLES = 0/90/180/270). Label i means "shown turned angles[i] degrees counter-clockwise";
a batch carries every image at every angle of the set, ordered [all images at
angles[0], all at angles[1], ...], as the paper does.

Right angles turn with ``torch.rot90``: exact, and for the default set bit-identical to
the four-rotation code this module started as. The paper's Table 2 also trains on the
eight multiples of 45 degrees. A square image turned by 45 degrees needs interpolation
(bilinear, ``affine_grid``/``grid_sample``, the whole batch at once on its device) and
leaves its four corners empty: a network would read the angle off those black corners
instead of off the content. So when a set holds any non-right angle, THE SAME mask is
applied to every copy, the right-angle ones included: everything outside the image's
inscribed circle (pixel centres farther than side/2 from the centre) is set to 0 (the
dataset mean, after normalisation). Inside that circle a turned image is all content, so
no angle is recognisable from the corners or from the mask's shape. We chose the circle
over a centred crop of side/sqrt(2) resized back: it keeps the scale and resolution the
probes and classifiers see (the crop would zoom in 1.41x and drop half the image) and
loses only the corners (21% of the area). Sets of right angles only (0/90/180/270,
0/180, 90/270) are never masked. A residual cue remains for 45-degree sets: the odd
multiples of 45 are interpolated (slightly smoother) while right angles are exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def _interpolated(x: torch.Tensor, angle: int) -> torch.Tensor:
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


def rotate_by(x: torch.Tensor, angle: int) -> torch.Tensor:
    """Turn a (B, C, H, W) batch by ``angle`` degrees (a multiple of 45) counter-clockwise:
    rot90 for right angles, bilinear interpolation otherwise (no mask applied here)."""
    if angle % 90 == 0:
        return torch.rot90(x, (angle // 90) % 4, dims=(-2, -1))
    return _interpolated(x, angle)


def circle_mask(size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(size, size) bool: True at the pixels whose centre lies within the inscribed circle."""
    r = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    return r.view(-1, 1) ** 2 + r.view(1, -1) ** 2 <= (size / 2) ** 2


def needs_mask(angles: Sequence[int]) -> bool:
    """Whether a set needs the circle mask: it does when any angle is not a right angle."""
    return any(a % 90 for a in angles)


def rotate_all(x: torch.Tensor, angles: Sequence[int] = ANGLES) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of a (B, C, H, W) batch at every angle of ``angles``, and the rotation
    labels (i for angles[i]). Sets with a 45-degree angle get the circle mask on every copy.

    Keeps channels-last input channels-last: rot90 and cat return NCHW, and a layout
    mismatch with channels-last weights costs ~20% on the CPU.
    """
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotation needs square images, got {x.shape[-2]}x{x.shape[-1]}")
    angles = check_angles(angles)
    if angles == ANGLES:  # the paper's four: exactly as this module always did
        rotated = torch.cat([rotate(x, k) for k in range(NUM_ROTATIONS)])
    else:
        rotated = torch.cat([rotate_by(x, a) for a in angles])
    if needs_mask(angles):
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
