"""Array images (N x H x W x C, uint8) to the channels and size a dataset asks for: used
by the prepare stage, and by inference to make new images the way the data was made."""

from __future__ import annotations

import numpy as np
from PIL import Image

from rotnet.progress import progress

# PIL's 'L' conversion (ITU-R 601-2 luma) in its own fixed point: L = (R*19595 + G*38470 + B*7471
# + 0x8000) >> 16, so arrays convert exactly as image files do.
LUMA_WEIGHTS = (19595, 38470, 7471)


def to_channels(images: np.ndarray, channels: int | None) -> np.ndarray:
    """N x H x W x C uint8 images as 1 (gray, PIL's formula) or 3 (gray replicated) channels; None keeps."""
    c = images.shape[-1]
    if channels is None or c == channels:
        return images
    if channels == 3:
        if c != 1:
            raise ValueError(f"cannot convert {c}-channel images to RGB")
        return np.repeat(images, 3, axis=-1)
    if c != 3:
        raise ValueError(f"cannot convert {c}-channel images to gray")
    out = np.empty((*images.shape[:-1], 1), dtype=np.uint8)
    weights = np.asarray(LUMA_WEIGHTS, dtype=np.uint32)
    for start in range(0, len(images), 4096):  # chunks bound the uint32 temporary
        chunk = images[start : start + 4096].astype(np.uint32)
        out[start : start + 4096, ..., 0] = ((chunk @ weights + 0x8000) >> 16).astype(np.uint8)
    return out


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 N x H x W x C images to size x size with PIL's bilinear filter."""
    n, h, w, c = images.shape
    if (h, w) == (size, size):
        return images
    out = np.empty((n, size, size, c), dtype=np.uint8)
    for i, image in progress(enumerate(images), total=n, desc="resizing images"):
        pil = Image.fromarray(image[..., 0] if c == 1 else image)
        resized = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))
        out[i] = resized[..., None] if c == 1 else resized
    return out


def pad_images(images: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad N x H x W x C images to size x size, centred; an odd remainder goes bottom/right."""
    n, h, w, c = images.shape
    if h > size or w > size:
        raise ValueError(f"{w}x{h} images do not fit in {size}x{size}")
    top, left = (size - h) // 2, (size - w) // 2
    out = np.zeros((n, size, size, c), dtype=np.uint8)
    out[:, top : top + h, left : left + w] = images
    return out
