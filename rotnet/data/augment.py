"""Whole-batch augmentation on the device, random per sample, no per-image Python.

All functions take uint8 or float batches shaped (B, C, H, W). Randomness comes from the
optional ``generator`` (on the batch's device), so a seeded generator reproduces a batch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from rotnet.params import AugmentParams


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero-pad by ``padding`` then crop the original size at a random offset per sample."""
    if padding == 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (b,), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b,), device=x.device, generator=generator)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each sample left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def random_resized_crop(
    x: torch.Tensor,
    scale: tuple[float, float],
    generator: torch.Generator | None = None,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """Crop a random box per sample and resize it back to H x W (bilinear), like RandomResizedCrop.

    The box has area fraction ~ U(scale) and aspect ratio (w/h) log-uniform in ``ratio``; a side
    that would overflow the image is clamped to it (torchvision retries instead, which a batch
    cannot do without a loop). Boxes are continuous (sub-pixel), sampled with one grid_sample.
    """
    b, _, h, w = x.shape
    dev = x.device
    area = scale[0] + (scale[1] - scale[0]) * torch.rand(b, device=dev, generator=generator)
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * torch.rand(b, device=dev, generator=generator))
    # Box sides as fractions of the image sides: (fw * W) * (fh * H) = area * H * W, (fw * W) / (fh * H) = aspect.
    fw = torch.sqrt(area * aspect * h / w).clamp(max=1.0)
    fh = torch.sqrt(area / aspect * w / h).clamp(max=1.0)
    # Centre in affine_grid's [-1, 1] coordinates, uniform over positions where the box fits.
    tx = (1 - fw) * (2 * torch.rand(b, device=dev, generator=generator) - 1)
    ty = (1 - fh) * (2 * torch.rand(b, device=dev, generator=generator) - 1)
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = fw, tx
    theta[:, 1, 1], theta[:, 1, 2] = fh, ty
    # align_corners=False: output edges map onto the box edges, so the box covers exactly fw x fh.
    grid = F.affine_grid(theta, [b, 1, h, w], align_corners=False)
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.round_().clamp_(0, 255).to(x.dtype)


# AutoAugment, CIFAR-10 policy (Cubuk et al. 2019), copied from torchvision's AutoAugment:
# 25 sub-policies of two (op, probability, magnitude bin) steps. torchvision (v1 and v2) indexes
# magnitudes on a 10-bin scale (bins 0-9), so we do too.
_CIFAR10_POLICY: list[tuple[tuple[str, float, int | None], tuple[str, float, int | None]]] = [
    (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
    (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
    (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
    (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
    (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
    (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
    (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
    (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
    (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
    (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
    (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
    (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
    (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
    (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
    (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
    (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
    (("Color", 0.9, 9), ("Equalize", 0.6, None)),
    (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
    (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
    (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
    (("Equalize", 0.8, None), ("Invert", 0.1, None)),
    (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
]
_AA_BINS = 10
_SIGNED_OPS = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast", "Sharpness"}


def _aa_magnitude(op: str, bin_: int | None, h: int, w: int) -> float:
    """Unsigned magnitude of ``op`` at ``bin_``, as torchvision's AutoAugment tables give it."""
    if bin_ is None:
        return 0.0
    n = _AA_BINS
    tables = {
        "ShearX": lambda: torch.linspace(0.0, 0.3, n),
        "ShearY": lambda: torch.linspace(0.0, 0.3, n),
        "TranslateX": lambda: torch.linspace(0.0, 150.0 / 331.0 * w, n),
        "TranslateY": lambda: torch.linspace(0.0, 150.0 / 331.0 * h, n),
        "Rotate": lambda: torch.linspace(0.0, 30.0, n),
        "Brightness": lambda: torch.linspace(0.0, 0.9, n),
        "Color": lambda: torch.linspace(0.0, 0.9, n),
        "Contrast": lambda: torch.linspace(0.0, 0.9, n),
        "Sharpness": lambda: torch.linspace(0.0, 0.9, n),
        "Posterize": lambda: (8 - (torch.arange(n) / ((n - 1) / 4))).round().int(),
        "Solarize": lambda: torch.linspace(1.0, 0.0, n),  # fraction of 255
    }
    return float(tables[op]()[bin_])


def _aa_apply(img: torch.Tensor, op: str, magnitude: float) -> torch.Tensor:
    """One AutoAugment op on a uint8 group, exactly as torchvision.transforms.v2.AutoAugment applies it
    (nearest interpolation, zero fill). The v2 kernels are batched and compute image statistics
    (contrast mean, equalize histogram, autocontrast range) per image, so a group call equals
    per-image calls. On 1-channel images Color is a no-op and Contrast uses the gray level, as in torchvision.
    """
    # Imported here: torchvision takes ~1.5 s to import and only AutoAugment needs it.
    import torchvision.transforms.v2.functional as TF

    nearest = TF.InterpolationMode.NEAREST
    if op in ("ShearX", "ShearY"):
        # torchvision shears by atan(magnitude) degrees about the top-left corner.
        deg = math.degrees(math.atan(magnitude))
        shear = [deg, 0.0] if op == "ShearX" else [0.0, deg]
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=shear, interpolation=nearest, center=[0, 0])
    if op in ("TranslateX", "TranslateY"):
        shift = [int(magnitude), 0] if op == "TranslateX" else [0, int(magnitude)]
        return TF.affine(img, angle=0.0, translate=shift, scale=1.0, shear=[0.0, 0.0], interpolation=nearest)
    if op == "Rotate":
        return TF.rotate(img, angle=magnitude, interpolation=nearest)
    if op == "Brightness":
        return TF.adjust_brightness(img, 1.0 + magnitude)
    if op == "Color":
        return TF.adjust_saturation(img, 1.0 + magnitude)
    if op == "Contrast":
        return TF.adjust_contrast(img, 1.0 + magnitude)
    if op == "Sharpness":
        return TF.adjust_sharpness(img, 1.0 + magnitude)
    if op == "Posterize":
        return TF.posterize(img, int(magnitude))
    if op == "Solarize":
        return TF.solarize(img, 255.0 * magnitude)
    if op == "AutoContrast":
        return TF.autocontrast(img)
    if op == "Equalize":
        return TF.equalize(img)
    if op == "Invert":
        return TF.invert(img)
    raise ValueError(f"unknown AutoAugment op {op!r}")


def _autoaugment_plan(
    b: int, device: torch.device, generator: torch.Generator | None
) -> list[tuple[torch.Tensor, list]]:
    """Draw the per-sample choices and return, per step, (key, ops).

    key[i] is -1 when sample i skips the step, else ``2 * j + negative`` where ops[j] = (op, bin)
    is the step's op for sample i's sub-policy and ``negative`` its sign (0 for unsigned ops).
    """
    policy = torch.randint(len(_CIFAR10_POLICY), (b,), device=device, generator=generator)
    u = torch.rand(b, 2, device=device, generator=generator)
    # Sign bit 1 = negative magnitude, drawn with probability 1/2 as torchvision does.
    negative = torch.randint(2, (b, 2), device=device, generator=generator)
    plan = []
    for step in range(2):
        ops: list[tuple[str, int | None]] = []
        op_of_policy, prob_of_policy, signed_of_policy = [], [], []
        for sub in _CIFAR10_POLICY:
            op, prob, bin_ = sub[step]
            if (op, bin_) not in ops:
                ops.append((op, bin_))
            op_of_policy.append(ops.index((op, bin_)))
            prob_of_policy.append(prob)
            signed_of_policy.append(op in _SIGNED_OPS)
        op_idx = torch.tensor(op_of_policy, device=device)[policy]
        prob = torch.tensor(prob_of_policy, device=device)[policy]
        signed = torch.tensor(signed_of_policy, device=device)[policy]
        key = 2 * op_idx + negative[:, step] * signed
        # Strict "<" so that probability 0.0 (sub-policy 15's Invert) never fires.
        plan.append((torch.where(u[:, step] < prob, key, -1), ops))
    return plan


def autoaugment_cifar10(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """AutoAugment with the CIFAR-10 policy, a sub-policy drawn per sample (uint8 in, uint8 out).

    Vectorised by grouping: per step, samples sharing (op, magnitude, sign) go through one
    torchvision call, so Python loops over at most ~2 x 2 x 17 groups, never over samples.
    """
    if x.dtype != torch.uint8:
        raise TypeError(f"autoaugment_cifar10 needs a uint8 batch, got {x.dtype}")
    b, _, h, w = x.shape
    out = x.clone()
    for key, ops in _autoaugment_plan(b, x.device, generator):
        # One sort and one host sync per step gives every group's indices.
        order = torch.argsort(key, stable=True)
        counts = torch.bincount(key + 1, minlength=2 * len(ops) + 1).tolist()
        groups = torch.split(order, counts)
        for k, idx in enumerate(groups[1:]):  # groups[0] holds the samples that skip this step
            if len(idx) == 0:
                continue
            op, bin_ = ops[k // 2]
            magnitude = _aa_magnitude(op, bin_, h, w) * (-1.0 if k % 2 else 1.0)
            out[idx] = _aa_apply(out[idx], op, magnitude)
    return out


def cutmix(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    alpha: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix (Yun et al. 2019): paste one box from a shuffled copy of the batch into every image.

    lambda ~ Beta(alpha, alpha); the box has sides sqrt(1 - lambda) * (H, W), a centre uniform over
    the pixels, and is clipped to the image. Targets mix one-hot labels by the EXACT pasted fraction
    after clipping. Returns (mixed images, soft targets of shape (B, num_classes) summing to 1).
    """
    if alpha <= 0:
        raise ValueError(f"cutmix alpha must be > 0, got {alpha}")
    b, _, h, w = x.shape
    perm = torch.randperm(b, device=x.device, generator=generator)
    # torch's Beta/Gamma samplers take no generator, so the scalar draws (lambda, box centre) come from
    # a numpy Generator seeded by a value drawn from ours: reproducible under the torch seed, and a
    # single host sync per batch, which the box slicing needs anyway.
    seed = int(torch.randint(0, 2**62, (1,), device=x.device, generator=generator).item())
    rng = np.random.default_rng(seed)
    lam = float(rng.beta(alpha, alpha))
    cut = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(h * cut), int(w * cut)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h - cut_h // 2, h)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w - cut_w // 2, w)
    mixed = x.clone()
    mixed[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
    pasted = (y1 - y0) * (x1 - x0) / (h * w)
    targets = F.one_hot(y, num_classes).float() * (1.0 - pasted) + F.one_hot(y[perm], num_classes).float() * pasted
    return mixed, targets


def augment_batch(x: torch.Tensor, cfg: AugmentParams, generator: torch.Generator | None = None) -> torch.Tensor:
    """The per-sample uint8 pipeline: AutoAugment, then a crop, then a flip, each when configured.

    The crop is the random resized crop when ``cfg.resize_scale`` is set, otherwise the padded random
    crop (``cfg.crop_padding``); with both set, only the resized crop runs, since it already shifts
    and rescales. CutMix is not here: it needs labels and runs on the normalised float batch.
    """
    if cfg.autoaugment:
        x = autoaugment_cifar10(x, generator)
    if cfg.resize_scale is not None:
        x = random_resized_crop(x, cfg.resize_scale, generator)
    else:
        x = random_crop(x, cfg.crop_padding, generator)
    if cfg.flip:
        x = random_flip(x, generator)
    return x
