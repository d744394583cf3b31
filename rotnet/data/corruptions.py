"""A locally generated subset of CIFAR-10-C: common corruptions at five severities.

CIFAR-10-C (Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions
and Perturbations", ICLR 2019) is the CIFAR-10 test set passed through 19 corruptions at severities
1..5. The published .npy files cannot be downloaded here, so this module regenerates nine of them
from the clean test images with numpy and Pillow only (the authors used scikit-image, OpenCV,
ImageMagick and SciPy besides).

The severity constants are those of the CIFAR-10 branch of the authors' generation script,
`ImageNet-C/create_c/make_cifar_c.py` in github.com/hendrycks/robustness (read at commit ca36008).
Each function re-implements that script's operation with the same floating-point steps in the
same order (see `CORRUPTIONS`). Like the script, each ends with np.uint8(np.clip(x, 0, 1) * 255),
which truncates rather than rounds.

The six deterministic corruptions agree with the script's own functions on 100% of the values at
every severity, on tests/data/fixtures/cifar10c_reference.npz (its README says how it was made);
the test asserts at least 99.9%, none off by more than 1.

The noises draw from numpy's Generator, not the script's global np.random stream: same
distributions, other pixels, so accuracies are close to, not the same as, published CIFAR-10-C
figures. `load_published` reads the published files instead. The names live in
rotnet.corruption_names (params checks them without loading numpy code).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from rotnet.corruption_names import CORRUPTION_NAMES, SEVERITIES
from rotnet.errors import RotnetError

FAMILIES = ("noise", "blur", "weather", "digital")  # the paper's four groups

# (images in float [0, 1] or uint8 as the function needs, severity constant, generator) -> images.
CorruptFn = Callable[[np.ndarray, Any, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Corruption:
    """One corruption: its name, the paper's family, one constant per severity, and the function.

    `published` is the stem of its file in the published CIFAR-10-C folder (the script saves each
    as `<function name>.npy`, so it equals `name` for every corruption here).
    """

    name: str
    family: str
    constants: tuple[Any, Any, Any, Any, Any]
    fn: CorruptFn
    published: str

    def constant(self, severity: int) -> Any:
        return self.constants[severity - 1]


# /////////////// float <-> uint8 ///////////////


def _to_float(images: np.ndarray) -> np.ndarray:
    """uint8 -> float64 in [0, 1], the authors' working range (np.array(x) / 255.)."""
    return images.astype(np.float64) / 255.0


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """The published script's ending, np.uint8(np.clip(x, 0, 1) * 255): clip, scale and TRUNCATE
    (not round: 127.9999 becomes 127); the cast never wraps, as every value is in [0, 255]."""
    return (np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


# /////////////// noise ///////////////


def _gaussian_noise(images: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Additive N(0, c^2) per value: sensor read noise."""
    x = _to_float(images)
    return _to_uint8(x + rng.normal(scale=c, size=x.shape))


def _shot_noise(images: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson(x * c) / c per value: photon counting noise, stronger as c (photons) drops."""
    x = _to_float(images)
    return _to_uint8(rng.poisson(x * c) / c)


def _impulse_noise(images: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper: a fraction c of the values (each channel on its own, as skimage's
    random_noise(mode='s&p') does) set to 0 or 1 with equal odds."""
    x = _to_float(images)
    flipped = rng.random(x.shape) < c
    salted = rng.random(x.shape) < 0.5
    x[flipped & salted] = 1.0
    x[flipped & ~salted] = 0.0
    return _to_uint8(x)


# /////////////// blur ///////////////


def _convolve_hw(x: np.ndarray, kernel: np.ndarray, pad_mode: str) -> np.ndarray:
    """Correlate each (H, W) plane of an (N, H, W, C) batch with a small odd 2-D kernel."""
    rh, rw = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = np.pad(x, ((0, 0), (rh, rh), (rw, rw), (0, 0)), mode=pad_mode)
    h, w = x.shape[1], x.shape[2]
    out = np.zeros_like(x)
    for i, j in zip(*np.nonzero(kernel), strict=True):
        out += kernel[i, j] * padded[:, i : i + h, j : j + w]
    return out


def _gaussian_taps(sigma: float, radius: int) -> np.ndarray:
    """scipy.ndimage's 1-D Gaussian, written with its operations in its order so the float bits match."""
    phi = np.exp(-0.5 / (sigma * sigma) * np.arange(-radius, radius + 1) ** 2)
    return phi / phi.sum()


def _symmetric_pass(x: np.ndarray, taps: np.ndarray, axis: int) -> np.ndarray:
    """One pass of scipy.ndimage.correlate1d (mode 'nearest') along `axis` of (N, H, W, C), in the
    order of its C loop for a symmetric kernel: centre * w0, then (left + right) * w from the
    farthest pair inwards. The same order gives the same last bits, which truncation exposes."""
    radius = len(taps) // 2
    pad = [(0, 0)] * x.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(x, pad, mode="edge")
    n = x.shape[axis]

    def shifted(offset: int) -> np.ndarray:
        index = [slice(None)] * x.ndim
        index[axis] = slice(radius + offset, radius + offset + n)
        return padded[tuple(index)]

    out = shifted(0) * taps[radius]
    pair = np.empty_like(out)
    for j in range(radius, 0, -1):
        np.add(shifted(-j), shifted(j), out=pair)
        pair *= taps[radius - j]
        out += pair
    return out


def _gaussian_blur(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur of each channel, as the script's skimage.filters.gaussian (scipy's
    gaussian_filter): truncated at 4 sigma, edges replicated (mode 'nearest'), rows then columns."""
    taps = _gaussian_taps(sigma, int(4.0 * sigma + 0.5))
    x = _symmetric_pass(_to_float(images), taps, axis=1)
    return _to_uint8(_symmetric_pass(x, taps, axis=2))


def _defocus_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The script's disk(): a normalised disk of `radius`, softened by cv2.GaussianBlur (3x3, sigma
    `alias_blur`), all in float32 as there (its kernel sums to 1 + 1e-9 .. 5e-8, not 1, and
    truncation shows that on flat areas). Bit-identical to OpenCV's result: taps rounded to float32,
    then per axis centre * w_centre + (left + right) * w_side in float32. The grid is smaller than the
    script's 17x17, which only adds zeros (the 3x3 blur never reaches the grid's edge)."""
    half = int(radius) + 1
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = np.array(xx**2 + yy**2 <= radius**2, dtype=np.float32)
    disk /= np.sum(disk)
    taps = _gaussian_taps(alias_blur, 1).astype(np.float32)
    p = np.pad(disk, 1)
    rows = p[1:-1, 1:-1] * taps[1] + (p[1:-1, :-2] + p[1:-1, 2:]) * taps[0]  # along x first, as OpenCV
    p = np.pad(rows, 1)
    return p[1:-1, 1:-1] * taps[1] + (p[:-2, 1:-1] + p[2:, 1:-1]) * taps[0]


def _defocus_blur(images: np.ndarray, c: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """A lens out of focus: correlation with the float32 disk kernel in float64, edges mirrored
    without repeating the border (cv2.filter2D's default, BORDER_REFLECT_101 = numpy's 'reflect').
    cv2.filter2D sums the script's 17x17 kernel (289 taps, over OpenCV's threshold of 50 for
    float64) through a DFT, whose last bits (<= ~2e-13 grey levels) no direct sum reproduces;
    truncation differs only where the exact value lies that close to an integer, which no pixel
    of the reference fixture does."""
    kernel = _defocus_kernel(*c)
    return _to_uint8(_convolve_hw(_to_float(images), kernel, "reflect"))


# /////////////// weather ///////////////


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> HSV in [0, 1], vectorised; the conventions of skimage.color.rgb2hsv
    (grey pixels get hue 0 and saturation 0)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    delta = v - rgb.min(axis=-1)
    grey = delta == 0
    safe_delta = np.where(grey, 1.0, delta)
    s = np.where(v == 0, 0.0, delta / np.where(v == 0, 1.0, v))
    # Later assignments win ties, as in skimage (blue, then green, then red as the maximum).
    h = np.where(r == v, (g - b) / safe_delta, 0.0)
    h = np.where(g == v, 2.0 + (b - r) / safe_delta, h)
    h = np.where(b == v, 4.0 + (r - g) / safe_delta, h)
    h = np.where(grey, 0.0, (h / 6.0) % 1.0)
    return np.stack([h, s, v], axis=-1)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] -> RGB in [0, 1], vectorised (the six-sector formula of skimage.color.hsv2rgb)."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    sector = np.floor(h * 6.0)
    f = h * 6.0 - sector
    sector = sector.astype(np.int64) % 6
    p = v * (1.0 - s)
    q = v * (1.0 - f * s)
    t = v * (1.0 - (1.0 - f) * s)
    # (r, g, b) for sectors 0..5.
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    channels = [np.select([sector == k for k in range(6)], [choice[i] for choice in choices]) for i in range(3)]
    return np.stack(channels, axis=-1)


def _brightness(images: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Daylight: add c to the HSV value and clip, keeping hue and saturation (a grey image's
    value is the image itself)."""
    x = _to_float(images)
    if x.shape[-1] == 1:
        return _to_uint8(x + c)
    hsv = _rgb_to_hsv(x)
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0.0, 1.0)
    return _to_uint8(_hsv_to_rgb(hsv))


# /////////////// digital ///////////////


def _contrast(images: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Low contrast: scale each channel's deviation from its per-image mean by c."""
    x = _to_float(images)
    means = x.mean(axis=(1, 2), keepdims=True)
    return _to_uint8((x - means) * c + means)


def _per_image(images: np.ndarray, transform: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    """Apply a Pillow transform to each uint8 image (mode 'L' for one channel, 'RGB' for three)."""
    out = np.empty_like(images)
    grey = images.shape[-1] == 1
    for i, image in enumerate(images):
        pil = Image.fromarray(image[..., 0] if grey else image, mode="L" if grey else "RGB")
        result = np.asarray(transform(pil), dtype=np.uint8)
        out[i] = result[..., None] if grey else result
    return out


def _pixelate(images: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Low resolution: box-downsample to c times the size, box-upsample back (Pillow, per image)."""
    h, w = images.shape[1], images.shape[2]
    small = (max(1, int(w * c)), max(1, int(h * c)))
    box = Image.Resampling.BOX
    return _per_image(images, lambda pil: pil.resize(small, box).resize((w, h), box))


def _jpeg(pil: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        decoded.load()
        return decoded.copy()


def _jpeg_compression(images: np.ndarray, quality: int, rng: np.random.Generator) -> np.ndarray:
    """Lossy compression artefacts: encode as JPEG at `quality` (Pillow's defaults otherwise) and
    decode, per image."""
    return _per_image(images, lambda pil: _jpeg(pil, quality))


# /////////////// the table ///////////////

# Severity constants: the CIFAR-10 values of make_cifar_c.py (hendrycks/robustness,
# ImageNet-C/create_c/make_cifar_c.py), all nine checked against that file:
#   gaussian_noise: normal std (on [0, 1]); shot_noise: photons per unit intensity (lower = worse);
#   impulse_noise: fraction of values hit; gaussian_blur: sigma in pixels;
#   defocus_blur: (disk radius, anti-alias sigma); brightness: added to HSV value;
#   contrast: factor on the deviation from the mean; pixelate: size factor; jpeg: JPEG quality.
_DEFOCUS = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1))
_TABLE = (
    Corruption("gaussian_noise", "noise", (0.04, 0.06, 0.08, 0.09, 0.10), _gaussian_noise, "gaussian_noise"),
    Corruption("shot_noise", "noise", (500, 250, 100, 75, 50), _shot_noise, "shot_noise"),
    Corruption("impulse_noise", "noise", (0.01, 0.02, 0.03, 0.05, 0.07), _impulse_noise, "impulse_noise"),
    Corruption("gaussian_blur", "blur", (0.4, 0.6, 0.7, 0.8, 1.0), _gaussian_blur, "gaussian_blur"),
    Corruption("defocus_blur", "blur", _DEFOCUS, _defocus_blur, "defocus_blur"),
    Corruption("brightness", "weather", (0.05, 0.1, 0.15, 0.2, 0.3), _brightness, "brightness"),
    Corruption("contrast", "digital", (0.75, 0.5, 0.4, 0.3, 0.15), _contrast, "contrast"),
    Corruption("pixelate", "digital", (0.95, 0.9, 0.85, 0.75, 0.65), _pixelate, "pixelate"),
    Corruption("jpeg_compression", "digital", (80, 65, 58, 50, 40), _jpeg_compression, "jpeg_compression"),
)
CORRUPTIONS: Mapping[str, Corruption] = MappingProxyType({c.name: c for c in _TABLE})
if tuple(CORRUPTIONS) != CORRUPTION_NAMES:  # params checks names against that list: keep them one
    raise ImportError("rotnet/corruption_names.py must list the names of corruptions._TABLE, in its order")


# /////////////// validation ///////////////


def _lookup(name: str) -> Corruption:
    if name not in CORRUPTIONS:
        raise RotnetError(
            f"unknown corruption {name!r}: use one of {', '.join(CORRUPTIONS)} "
            "(CIFAR-10-C's others are not generated locally)"
        )
    return CORRUPTIONS[name]


def _check_severity(severity: int) -> None:
    if isinstance(severity, bool) or not isinstance(severity, int | np.integer) or severity not in SEVERITIES:
        raise RotnetError(f"corruption severity {severity!r} is not one of 1..5: use an integer from 1 to 5")


def _check_images(images: np.ndarray) -> None:
    if not isinstance(images, np.ndarray):
        raise RotnetError(f"corrupt() needs a numpy array of images, got {type(images).__name__}: pass np.asarray(...)")
    if images.dtype != np.uint8:
        raise RotnetError(
            f"corrupt() needs uint8 images (0..255), got dtype {images.dtype}: "
            "pass the raw pixels, e.g. np.clip(np.rint(x * 255), 0, 255).astype(np.uint8) for floats in [0, 1]"
        )
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise RotnetError(
            f"corrupt() needs images shaped (N, H, W, C) with C = 1 or 3 (channels last), got {images.shape}: "
            "add a batch axis with x[None] or a channel axis with x[..., None], or move channels last"
        )
    if images.shape[1] < 2 or images.shape[2] < 2:
        raise RotnetError(f"corrupt() needs images of at least 2x2 pixels, got {images.shape[1:3]}")


def _generator(seed: int, name: str, severity: int) -> np.random.Generator:
    """A stream of its own for each (seed, corruption, severity), whatever the call order."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise RotnetError(f"corruption seed {seed!r} must be a non-negative integer: use e.g. the study's `seed`")
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(name.encode()), int(severity)]))


# /////////////// public API ///////////////


def corrupt(images: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """Corrupt a batch of uint8 (N, H, W, C) images (C = 1 or 3) with `name` at `severity` (1..5).

    Returns new uint8 images of the same shape. Deterministic for (images, name, severity, seed):
    the noises draw one stream per batch, so to reproduce a set corrupt it in one call."""
    corruption = _lookup(name)
    _check_severity(severity)
    _check_images(images)
    rng = _generator(seed, name, severity)
    out = corruption.fn(images, corruption.constant(int(severity)), rng)
    assert out.dtype == np.uint8 and out.shape == images.shape, (name, out.dtype, out.shape)
    return out


def load_published(folder: Path, name: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
    """Read one severity of the published CIFAR-10-C: (images uint8 (n, 32, 32, 3), labels (n,)).

    The published `<name>.npy` holds the test set five times, severity 1 first, and `labels.npy`
    the labels in the same order; the big file is memory-mapped so only the slice is read.
    """
    corruption = _lookup(name)
    _check_severity(severity)
    folder = Path(folder)
    fix = (
        "set datasets.<name>.corruptions (e.g. datasets.cifar10.corruptions) to the folder holding "
        "CIFAR-10-C's .npy files (published at https://zenodo.org/record/2535967)"
    )
    images_path = folder / f"{corruption.published}.npy"
    labels_path = folder / "labels.npy"
    for path in (images_path, labels_path):
        if not path.is_file():
            raise RotnetError(f"published CIFAR-10-C file {path} not found: {fix}")
    try:
        images = np.load(images_path, mmap_mode="r")
        labels = np.load(labels_path)
    except (OSError, ValueError) as exc:
        raise RotnetError(
            f"cannot read {images_path} or {labels_path} as .npy ({exc}): re-download them; {fix}"
        ) from exc
    total = images.shape[0] if images.ndim else 0
    if images.dtype != np.uint8 or images.ndim != 4 or total == 0 or total % len(SEVERITIES):
        raise RotnetError(
            f"{images_path} holds {images.dtype} {images.shape}, not uint8 (5 x n, H, W, C) as CIFAR-10-C does: "
            f"re-download it; {fix}"
        )
    n = total // len(SEVERITIES)
    start = (int(severity) - 1) * n
    if labels.ndim != 1 or len(labels) not in (total, n):
        raise RotnetError(
            f"{labels_path} holds {labels.shape} labels, {images_path} {total} images (5 severities of {n}): "
            f"use the labels.npy from the same CIFAR-10-C folder; {fix}"
        )
    chosen = labels[start : start + n] if len(labels) == total else labels
    return np.array(images[start : start + n]), np.array(chosen)
