"""The rotation pretext task (RotNet), defined once for training and for `rotnet orient`.

Label k means "shown turned k x 90 degrees counter-clockwise"; a batch carries every image
at every angle, ordered [all images at 0, all at 90, all at 180, all at 270], as the paper
does.
"""

from __future__ import annotations

import torch

ANGLES: tuple[int, ...] = (0, 90, 180, 270)
NUM_ROTATIONS = len(ANGLES)
LABELS: list[str] = [str(a) for a in ANGLES]  # class names of a RotNet model


def rotate(x: torch.Tensor, label: int) -> torch.Tensor:
    """Turn a (..., H, W) batch by ANGLES[label] degrees counter-clockwise."""
    return torch.rot90(x, label, dims=(-2, -1))


def rotate_all(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of a (B, C, H, W) batch at every angle, and the rotation labels.

    Keeps channels-last input channels-last: rot90 and cat return NCHW, and a layout
    mismatch with channels-last weights costs ~20% on the CPU.
    """
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotation needs square images, got {x.shape[-2]}x{x.shape[-1]}")
    rotated = torch.cat([rotate(x, k) for k in range(NUM_ROTATIONS)])
    if x.is_contiguous(memory_format=torch.channels_last):
        rotated = rotated.contiguous(memory_format=torch.channels_last)
    labels = torch.arange(NUM_ROTATIONS, device=x.device).repeat_interleave(x.shape[0])
    return rotated, labels
