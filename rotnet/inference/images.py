"""Read images for inference: any format and size, one clear error per bad file."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
T = TypeVar("T")
MAX_PIXELS = 50_000_000  # larger images are refused (decompression bombs), not decoded


@dataclass(frozen=True)
class Loaded:
    path: Path
    image: Image.Image  # upright per EXIF, in the model's mode


def expand(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, and the image files inside given folders (recursively, sorted)."""
    out: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            out += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
        else:
            out.append(item)
    return out


def distinct(items: Iterable[T], path: Callable[[T], Path] = Path) -> list[T]:
    """``items`` without repeats of one file (same resolved ``path(item)``: given twice, or
    as a file and in its folder), keeping the first mention: each image is read once."""
    first: dict[Path, T] = {}
    for item in items:
        first.setdefault(path(item).resolve(), item)
    return list(first.values())


def open_image(path: Path, mode: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode one image upright (EXIF) in ``mode``; raise ValueError with a readable reason."""
    if not path.is_file():
        raise ValueError("no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise ValueError(f"{w}x{h} pixels is over the limit of {max_pixels} (a decompression bomb?)")
                img.load()
                return ImageOps.exif_transpose(img).convert(mode)
    except ValueError:
        raise
    except Exception as err:  # PIL raises many types for truncated or non-image files
        raise ValueError(f"not a readable image ({type(err).__name__}: {err})") from None


def to_batch(images: list[Image.Image], size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, C) uint8, each image resized to ``size`` (H, W) as the prepare stage does."""
    arrays = []
    for img in images:
        a = np.asarray(img.resize((size[1], size[0]), Image.Resampling.BILINEAR))
        arrays.append(a[..., None] if a.ndim == 2 else a)
    return np.stack(arrays)


def read_batches(
    files: list[Path], mode: str, batch_size: int, max_pixels: int, desc: str
) -> Iterator[tuple[list[Path], list[Image.Image], dict[Path, str]]]:
    """Batches of (readable paths, their images, errors of the unreadable ones by path)."""
    from rotnet.progress import progress

    chunks = [files[i : i + batch_size] for i in range(0, len(files), batch_size)]
    for chunk in progress(chunks, len(chunks), desc):
        good, images, errors = [], [], {}
        for path in chunk:
            try:
                images.append(open_image(path, mode, max_pixels))
                good.append(path)
            except ValueError as err:
                errors[path] = str(err)
        yield good, images, errors
