"""What two views per image cost: the two-view augmentation of SimCLR and BYOL
(rotnet.data.views) against the single-view augmentation the engine runs today (padded random
crop and flip, rotnet.data.augment), each from uint8 images on the device to normalised float
batches ready to train on, in one run.

    python benchmarks/views.py                                   # CPU
    python benchmarks/views.py --device cuda --batch 512 --steps 50 --repeats 5

Prints source images/s per side (the median of --repeats timed runs of --steps batches, after
--steps warm-up batches) and the ratio of each two-view side to the single view: the share of
single-view throughput left (a two-view batch makes 2 x batch training images).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rotnet.data.augment import augment_batch
from rotnet.data.views import two_views
from rotnet.methods.recipes import BYOL, SIMCLR
from rotnet.params import AugmentParams

SIDES = ("single-view", "simclr", "byol")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def side_fns(device: torch.device) -> dict[str, Callable[[torch.Tensor, torch.Generator], object]]:
    """Each side's batch function: uint8 (B, 3, H, W) in, normalised float batch(es) out."""
    mean = torch.tensor([0.49, 0.48, 0.45], device=device)
    std = torch.tensor([0.25, 0.24, 0.26], device=device)
    m255, s255 = (mean * 255).view(1, 3, 1, 1), (std * 255).view(1, 3, 1, 1)
    plain = AugmentParams()  # crop_padding 4, flip: the engine's default training augmentation
    return {
        "single-view": lambda x, g: (augment_batch(x, plain, g).float() - m255) / s255,
        "simclr": lambda x, g: two_views(x, SIMCLR.views, mean, std, g),
        "byol": lambda x, g: two_views(x, BYOL.views, mean, std, g),
    }


def measure(device: torch.device, batch: int, steps: int, repeats: int, size: int = 32) -> dict[str, dict]:
    """Images/s per side; each side's repeats are kept, its figure is their median. The sides'
    repeats are interleaved, so a drift of the machine's speed hits them alike."""
    gen = torch.Generator(device=device).manual_seed(0)
    pool = torch.randint(0, 256, (4 * batch, 3, size, size), device=device, dtype=torch.uint8, generator=gen)
    order = torch.randperm(len(pool), device=device, generator=gen)
    fns = side_fns(device)

    def run(fn: Callable[[torch.Tensor, torch.Generator], object]) -> float:
        _sync(device)
        start = time.perf_counter()
        for k in range(steps):
            idx = order.roll(k * batch)[:batch]  # a fresh slice of the pool, as the device split slices
            fn(pool[idx], gen)
        _sync(device)
        return steps * batch / (time.perf_counter() - start)

    for fn in fns.values():
        run(fn)  # warm-up: allocator growth, kernel caches
    found: dict[str, list[float]] = {side: [] for side in SIDES}
    for _ in range(repeats):
        for side, fn in fns.items():
            found[side].append(run(fn))
    single = statistics.median(found["single-view"])
    return {
        side: {
            "images_per_s": statistics.median(reps),
            "repeats": reps,
            "ratio_to_single": statistics.median(reps) / single,
        }
        for side, reps in found.items()
    }


def main(argv: Sequence[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--steps", type=int, default=5, help="batches per timed run (and per warm-up)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=32, help="image side, pixels")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here; use --device cpu")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    result = measure(device, args.batch, args.steps, args.repeats, args.size)
    shape = f"batch {args.batch} of {args.size}x{args.size}, {args.steps} steps x {args.repeats}"
    print(f"views benchmark on {where}: {shape}")
    for side, rec in result.items():
        reps = ", ".join(f"{v:.0f}" for v in rec["repeats"])
        print(
            f"  {side:12s} {rec['images_per_s']:10.0f} source images/s  "
            f"ratio to single-view {rec['ratio_to_single']:.3f}  (repeats: {reps})"
        )
    return result


if __name__ == "__main__":
    main()
