"""Two augmented views per image for SimCLR and BYOL, made on the device for whole batches.

Each view is torchvision's recipe as lightly's CIFAR-10 benchmark composes it: a random
resized crop, a horizontal flip, colour jitter (brightness, contrast, saturation, hue in a
random order) applied with some probability, random grayscale, and (BYOL's second view)
solarization; every parameter is drawn per sample, and no Python runs per image.

Every draw comes from the ``generator`` the caller passes, never from torch's global one:
the study's runs are seeded and resume exactly from their own per-epoch generators
(rotnet.data.device). That is why this is not kornia: its augmentations draw from torch's
global generator, which anything else in the process also advances (and which a resumed
run would have to save and restore); it would also be one more dependency, with a compiled
part (kornia_rs), to carry to a GPU box that has no internet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from rotnet.errors import RotnetError

# ITU-R 601 luma, as torchvision's rgb_to_grayscale (and PIL's "L" conversion) weighs channels.
_LUMA = (0.299, 0.587, 0.114)
# torchvision's RandomResizedCrop tries this many (area, ratio) draws before its fallback.
_CROP_TRIALS = 10


@dataclass(frozen=True)
class ViewParams:
    """One view's augmentation, in torchvision's terms (RandomResizedCrop, ColorJitter, ...)."""

    scale: tuple[float, float] = (0.08, 1.0)  # crop area, as a fraction of the image
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # crop aspect (width / height), drawn log-uniform
    flip_prob: float = 0.5
    jitter_prob: float = 0.8  # colour jitter is applied with this probability
    brightness: float = 0.4  # factor ~ U[max(0, 1 - b), 1 + b]; likewise contrast, saturation
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1  # hue shift ~ U[-h, h], in turns (at most 0.5)
    gray_prob: float = 0.2
    solarize_prob: float = 0.0
    solarize_threshold: float = 128 / 255  # PIL's ImageOps.solarize threshold 128, on [0, 1] levels

    def __post_init__(self) -> None:
        lo, hi = self.scale
        if not 0 < lo <= hi <= 1:
            raise RotnetError(f"view scale must satisfy 0 < low <= high <= 1, got {self.scale}; e.g. (0.08, 1.0)")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise RotnetError(f"view ratio must satisfy 0 < low <= high, got {self.ratio}; e.g. (3/4, 4/3)")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_prob") and not 0 <= value <= 1:
                raise RotnetError(f"view {f.name} is a probability: give a value in [0, 1], not {value}")
        if min(self.brightness, self.contrast, self.saturation) < 0:
            raise RotnetError("view brightness, contrast and saturation are jitter strengths: give values >= 0")
        if not 0 <= self.hue <= 0.5:
            raise RotnetError(f"view hue is a shift in turns: give a value in [0, 0.5], not {self.hue}")


@dataclass
class ViewDraw:
    """One view's random parameters, per sample (B rows), as drawn: tests and logs read them."""

    area: torch.Tensor  # (B,) the accepted crop trial's target area fraction (1 for the fallback)
    aspect: torch.Tensor  # (B,) its target aspect, width / height
    box: torch.Tensor  # (B, 4) int64: top, left, height, width of the crop, in pixels
    fallback: torch.Tensor  # (B,) bool: no trial fitted; the centre crop torchvision falls back to
    flip: torch.Tensor  # (B,) bool
    jitter: torch.Tensor  # (B,) bool: colour jitter applied
    factors: torch.Tensor  # (B, 4): brightness, contrast, saturation factors and the hue shift
    order: torch.Tensor  # (B, 4) int64: a permutation of 0..3, the order the jitter ops run in
    gray: torch.Tensor  # (B,) bool
    solarize: torch.Tensor  # (B,) bool


def _uniform(b: int, lo: float, hi: float, device: torch.device, gen: torch.Generator, cols: int = 0) -> torch.Tensor:
    shape = (b, cols) if cols else (b,)
    return lo + (hi - lo) * torch.rand(shape, device=device, generator=gen)


def _draw_boxes(
    b: int, h: int, w: int, cfg: ViewParams, device: torch.device, gen: torch.Generator
) -> tuple[torch.Tensor, ...]:
    """torchvision's RandomResizedCrop.get_params for a batch: all trials drawn at once, the
    first that fits taken per sample, else the same centre fallback."""
    area = _uniform(b, *cfg.scale, device, gen, cols=_CROP_TRIALS)
    log_ratio = _uniform(b, math.log(cfg.ratio[0]), math.log(cfg.ratio[1]), device, gen, cols=_CROP_TRIALS)
    aspect = torch.exp(log_ratio)
    # torch.round halves to even, as Python's round in torchvision does.
    cw = torch.round(torch.sqrt(area * h * w * aspect)).long()
    ch = torch.round(torch.sqrt(area * h * w / aspect)).long()
    fits = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
    first = fits.int().argmax(dim=1, keepdim=True)  # index of the first True (0 when none)
    fallback = ~fits.any(dim=1)
    area, aspect, cw, ch = (t.gather(1, first).squeeze(1) for t in (area, aspect, cw, ch))
    # The fallback: the whole image, cut to the nearest allowed aspect.
    in_ratio = w / h
    fw, fh = w, h
    if in_ratio < cfg.ratio[0]:
        fh = round(w / cfg.ratio[0])
    elif in_ratio > cfg.ratio[1]:
        fw = round(h * cfg.ratio[1])
    cw, ch = torch.where(fallback, fw, cw), torch.where(fallback, fh, ch)
    area, aspect = torch.where(fallback, 1.0, area), torch.where(fallback, in_ratio, aspect)
    # Offsets uniform over the positions where the box fits (randint(0, h - ch + 1)); centred in the fallback.
    u = torch.rand(b, 2, device=device, generator=gen)
    top = torch.where(fallback, (h - ch) // 2, (u[:, 0] * (h - ch + 1)).long().clamp(max=h - ch))
    left = torch.where(fallback, (w - cw) // 2, (u[:, 1] * (w - cw + 1)).long().clamp(max=w - cw))
    return area, aspect, torch.stack([top, left, ch, cw], dim=1), fallback


def draw_view(b: int, h: int, w: int, cfg: ViewParams, device: torch.device, generator: torch.Generator) -> ViewDraw:
    """Every random parameter of one view of ``b`` images of ``h`` x ``w``, in a fixed draw order."""
    area, aspect, box, fallback = _draw_boxes(b, h, w, cfg, device, generator)
    flip = torch.rand(b, device=device, generator=generator) < cfg.flip_prob
    jitter = torch.rand(b, device=device, generator=generator) < cfg.jitter_prob
    factors = torch.stack(
        [
            _uniform(b, max(0.0, 1 - cfg.brightness), 1 + cfg.brightness, device, generator),
            _uniform(b, max(0.0, 1 - cfg.contrast), 1 + cfg.contrast, device, generator),
            _uniform(b, max(0.0, 1 - cfg.saturation), 1 + cfg.saturation, device, generator),
            _uniform(b, -cfg.hue, cfg.hue, device, generator),
        ],
        dim=1,
    )
    # A random permutation per sample, as ColorJitter's randperm(4), for the whole batch at once.
    order = torch.rand(b, 4, device=device, generator=generator).argsort(dim=1)
    gray = torch.rand(b, device=device, generator=generator) < cfg.gray_prob
    solarize = torch.rand(b, device=device, generator=generator) < cfg.solarize_prob
    return ViewDraw(area, aspect, box, fallback, flip, jitter, factors, order, gray, solarize)


def crop_resize_flip(x: torch.Tensor, box: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Each sample's box resized to the full H x W (bilinear), mirrored where ``flip``: one
    grid_sample. uint8 or float in, float out on the input's scale (no rounding: no double
    quantisation before the colour ops). Bilinear taps at the box's edge read the image just
    outside it, where torchvision (crop, then resize) repeats the edge: a sub-pixel difference."""
    b, _, h, w = x.shape
    top, left, ch, cw = box.to(torch.float32).unbind(1)
    sx, sy = cw / w, ch / h  # half-extents in affine_grid's [-1, 1] coordinates
    theta = torch.zeros(b, 2, 3, device=x.device)
    theta[:, 0, 0] = torch.where(flip, -sx, sx)  # a negative x-scale samples the box mirrored
    theta[:, 0, 2] = (2 * left + cw) / w - 1
    theta[:, 1, 1] = sy
    theta[:, 1, 2] = (2 * top + ch) / h - 1
    grid = F.affine_grid(theta, [b, 1, h, w], align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma."""
    r, g, b = x.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


def _per_sample(v: torch.Tensor) -> torch.Tensor:
    return v.view(-1, 1, 1, 1)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """torchvision's _blend on [0, 1] floats: factor * x + (1 - factor) * other, clamped."""
    f = _per_sample(factor)
    return (f * x + (1 - f) * other).clamp_(0, 1)


def _shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """RGB -> HSV, hue + shift (mod 1), -> RGB, per sample: torchvision's adjust_hue on tensors.
    HSV -> RGB by the closed form c = v - v s clamp(min(k, 4 - k), 0, 1), k = (n + 6 h) mod 6
    with n = 5, 3, 1 for r, g, b: a few whole-batch ops instead of a six-way sector table."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(dim=1)
    minc, _ = x.min(dim=1)
    delta = maxc - minc
    grey = delta == 0
    safe = torch.where(grey, torch.ones_like(delta), delta)
    s = delta / torch.where(maxc == 0, torch.ones_like(maxc), maxc)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    hue = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = torch.where(grey, torch.zeros_like(hue), hue)
    h6 = torch.remainder(hue + 6.0 * shift.view(-1, 1, 1), 6.0)  # hue in sixths of a turn, shifted
    n = torch.tensor([5.0, 3.0, 1.0], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    k = torch.remainder(n + h6.unsqueeze(1), 6.0)
    v, s = maxc.unsqueeze(1), s.unsqueeze(1)
    return v - v * s * torch.minimum(k, 4.0 - k).clamp_(0, 1)


def color_jitter(x: torch.Tensor, factors: torch.Tensor, order: torch.Tensor, apply: torch.Tensor) -> torch.Tensor:
    """ColorJitter on [0, 1] floats with per-sample factors and op order, where ``apply``.

    At each of the 4 positions brightness, contrast and saturation run on the whole batch (no
    Python per image), with the identity factor (1) for the samples that do not run them there:
    at factor 1 they leave an image bit for bit as it was. The hue, 5x their cost, runs only on
    the samples that take it at that position: one argsort and one host sync give those groups.
    One-channel images take brightness and contrast only (torchvision skips the others on them).
    """
    colour = x.shape[1] == 3
    hue_at = torch.where(apply, (order == 3).int().argmax(dim=1), -1)  # position of the hue; -1: no jitter
    groups = torch.split(torch.argsort(hue_at, stable=True), torch.bincount(hue_at + 1, minlength=5).tolist())
    for k in range(4):
        at = torch.where(apply, order[:, k], -1)
        f = torch.where(at.unsqueeze(1) == torch.arange(4, device=x.device), factors, 1.0)  # (B, 4)
        x = (x * _per_sample(f[:, 0])).clamp_(0, 1)  # brightness: a blend with black
        mean = (_gray(x) if colour else x).mean(dim=(1, 2, 3), keepdim=True)
        x = _blend(x, mean, f[:, 1])  # contrast: with the image's mean grey
        if colour:
            x = _blend(x, _gray(x), f[:, 2])  # saturation: with the pixel's grey
            idx = groups[k + 1]
            if len(idx):
                x[idx] = _shift_hue(x[idx], factors[idx, 3])
    return x


def apply_view(x: torch.Tensor, draw: ViewDraw, cfg: ViewParams) -> torch.Tensor:
    """One view of a uint8 batch (B, C, H, W) with the drawn parameters: float in [0, 1]."""
    out = crop_resize_flip(x, draw.box, draw.flip).div_(255.0)
    out = color_jitter(out, draw.factors, draw.order, draw.jitter)
    if out.shape[1] == 3:
        out = torch.where(_per_sample(draw.gray), _gray(out).expand_as(out), out)
    solar = _per_sample(draw.solarize) & (out >= cfg.solarize_threshold)
    return torch.where(solar, 1.0 - out, out)


def augment_view(x: torch.Tensor, cfg: ViewParams, generator: torch.Generator) -> tuple[torch.Tensor, ViewDraw]:
    """One view of a uint8 batch and its parameters: float in [0, 1], not normalised."""
    if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] not in (1, 3):
        raise RotnetError(
            f"views need a uint8 batch (B, C, H, W) with 1 or 3 channels, got {x.dtype} {tuple(x.shape)}; "
            "pass the device dataset's images as they are stored"
        )
    b, _, h, w = x.shape
    draw = draw_view(b, h, w, cfg, x.device, generator)
    return apply_view(x, draw, cfg), draw


def two_views(
    x: torch.Tensor,
    views: tuple[ViewParams, ViewParams],
    mean: torch.Tensor,
    std: torch.Tensor,
    generator: torch.Generator,
    channels_last: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two normalised float views of a uint8 batch, ready to train on; ``mean`` and ``std`` are
    per channel on [0, 1] levels. View 1 is drawn wholly before view 2, from one generator."""
    m, s = mean.view(1, -1, 1, 1).to(x.device), std.view(1, -1, 1, 1).to(x.device)
    out = []
    for cfg in views:
        v = (augment_view(x, cfg, generator)[0] - m) / s
        out.append(v.contiguous(memory_format=torch.channels_last) if channels_last else v)
    return out[0], out[1]
