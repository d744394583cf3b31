"""What each backbone costs to train: source images/s and peak memory, supervised, rotation,
SimCLR and BYOL pretraining, at the committed batch (128 images; rotation: 512 samples;
SimCLR and BYOL: 512 images, 1024 views).

    python benchmarks/costs.py                                   # the committed study's backbones
    python benchmarks/costs.py --backbones nin resnet18 --steps 3 --device cuda
    python benchmarks/costs.py --backbones nin --tasks rotation simclr byol

Runs through the engine with ``runtime.micro_batch: auto`` (the largest micro-batch that
fits; the table says which was used); SimCLR and BYOL run their batch whole, as the study
must (their loss takes the whole batch: rotnet.methods.whole_batch), so a batch that does not
fit fails with its error instead. Data: random 32x32 images (the cost does not depend
on what they show). Peak memory: on the CPU the peak resident memory of a process that
measures one backbone and task (this script starts one per row); on CUDA the memory
allocated on the device during the timed epoch. Prints one row per backbone and task, then
the slowest/fastest ratio. ``make gpu-check`` measures the same on a GPU box (``measure``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STUDY = ["nin", "resnet18", "resnet50", "resnet101", "efficientnet_b0", "efficientnet_b5"]
TASKS = ["supervised", "rotation", "simclr", "byol"]
METHODS = ("simclr", "byol")  # own-loss tasks on two views (rotnet.methods.tasks), params section = name


def synthetic(n: int, seed: int = 0):
    """A PreparedDataset of ``n`` random 32x32 RGB train images (and 16 val and test)."""
    import numpy as np

    from rotnet.data.prepared import PreparedDataset, Split

    rng = np.random.default_rng(seed)

    def split(k: int) -> Split:
        return Split(rng.integers(0, 256, (k, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, k).astype(np.int64))

    meta = {"class_names": [str(i) for i in range(10)], "mean": [0.5] * 3, "std": [0.25] * 3}
    return PreparedDataset("costs", split(n), split(16), split(16), meta)


def measure(backbone: str, task: str, steps: int, device_name: str, params: Any = None) -> dict[str, Any]:
    """One measurement, in this process: a fit of ``steps`` timed steps after a warm-up epoch
    of as many, with ``params``' recipe for ``backbone`` (default: the committed params.yaml)
    and its runtime (amp, channels-last, compile) but ``micro_batch: auto`` (SimCLR, BYOL:
    none, the whole batch)."""
    import torch

    from rotnet.data.device import DeviceDataset
    from rotnet.methods.tasks import method_task
    from rotnet.models.registry import create_backbone
    from rotnet.params import load_params
    from rotnet.training.engine import Engine
    from rotnet.training.tasks import RotationTask, SupervisedTask

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
    params = params if params is not None else load_params(ROOT / "params.yaml")
    method = task in METHODS
    cfg = params.recipe(task if method else "pretrain" if task == "rotation" else "supervised", backbone)
    batch = cfg.batch_size
    device = torch.device(device_name)
    cuda = device.type == "cuda"
    data = DeviceDataset.from_prepared(synthetic((steps + 1) * batch), device)
    runtime = params.runtime.model_copy(update={"device": device_name, "micro_batch": None if method else "auto"})
    torch.manual_seed(0)
    angles = list(cfg.rotations) if task == "rotation" else []
    model = create_backbone(backbone, len(angles) or 10, options=params.backbone_options(backbone))
    schedule = cfg.schedule.model_copy(update={"milestones": [], "warmup_epochs": 0})
    short = cfg.model_copy(update={"epochs": 2, "epoch_size": steps * batch, "schedule": schedule})
    if method:  # its kNN monitor's memory bank is the split: k no larger
        fit_task = method_task(task, model, cfg)
        short = short.model_copy(update={"knn_k": min(cfg.knn_k, len(data.train))})
    else:
        fit_task = RotationTask(model, angles) if task == "rotation" else SupervisedTask(model, 10)
    engine = Engine(data, runtime, device)

    def after_epoch(row: dict[str, float]) -> None:
        # The timed epoch's peak: the steady state, not the micro-batch trial (which may have
        # run out of memory at a larger size) nor the warm-up's autotuning workspaces.
        if cuda and row["epoch"] == 1:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)

    # Two epochs of `steps` steps: the first warms up (kernels, allocator), the second is timed.
    t0 = time.perf_counter()
    result = engine.fit(fit_task, short, seed=1, desc=f"{backbone} {task}", on_epoch=after_epoch)
    images_per_s = result.history[-1]["images_per_s"]
    per_image = 2 if method else len(angles) or 1  # samples per source image: views, rotations or itself
    if cuda:
        peak, peak_of = torch.cuda.max_memory_allocated(device), "CUDA memory allocated in the timed epoch"
    else:  # ru_maxrss is KiB on Linux, and the whole process's: one measurement per process
        peak, peak_of = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "peak resident memory of the process"
    return {
        "backbone": backbone,
        "task": task,
        "batch": batch,
        "samples_per_step": batch * per_image,
        "micro_batch": result.extra.get("micro_batch"),
        "images_per_s": round(images_per_s, 2),
        "samples_per_s": round(images_per_s * per_image, 2),
        "seconds": round(time.perf_counter() - t0, 1),
        "peak_gib": round(peak / 2**30, 2),
        "peak_of": peak_of,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbones", nargs="+", default=STUDY)
    ap.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS)
    ap.add_argument("--steps", type=int, default=2, help="steps per epoch (2 epochs: the second is timed)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--one", nargs=2, metavar=("BACKBONE", "TASK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1], args.steps, args.device)))
        return
    rows = []
    print(f"{'backbone':18s} {'task':10s} {'batch':>5s} {'micro':>5s} {'images/s':>9s} {'peak':>9s}", flush=True)
    for backbone in args.backbones:
        for task in args.tasks:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                backbone,
                task,
                "--steps",
                str(args.steps),
                "--device",
                args.device,
            ]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{backbone:18s} {task:10s} failed: {out.stderr.strip().splitlines()[-1]}", flush=True)
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            peak = f"{row['peak_gib']:.2f} GiB"
            shown = f"{row['batch']:5d} {row['micro_batch']:5d} {row['images_per_s']:9.2f} {peak:>9s}"
            print(f"{backbone:18s} {task:10s} {shown}", flush=True)
    if rows:
        fast = max(rows, key=lambda r: r["images_per_s"])
        slow = min(rows, key=lambda r: r["images_per_s"])
        print(
            f"slowest/fastest: {slow['backbone']} {slow['task']} at {slow['images_per_s'] / fast['images_per_s']:.3f}x "
            f"{fast['backbone']} {fast['task']}"
        )


if __name__ == "__main__":
    main()
