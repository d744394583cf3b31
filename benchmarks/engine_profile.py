"""Where a training step's time goes: the engine against the model alone, under the
PyTorch profiler, plus the data path timed on its own. For the engine/model-only gap that
benchmarks/throughput.py reports.

    python benchmarks/engine_profile.py --device cuda --workload nin-rotation --steps 30

Prints, per side: wall ms per step, device (GPU or CPU) busy ms per step, and the ops that
take most device time; then source images/s of the data path alone (batches made, rotated,
no model) as a ratio to the model-only step rate.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import throughput  # noqa: E402

from rotnet import rotation  # noqa: E402
from rotnet.data.device import DeviceDataset  # noqa: E402
from rotnet.data.prepared import PreparedDataset, Split, channel_stats  # noqa: E402
from rotnet.params import AugmentParams  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def profiled(name: str, run, steps: int, device: torch.device, top: int, per_run: int = 1) -> None:
    """Run ``run`` once to warm up, then ``run(steps)`` (``steps * per_run`` training steps)
    under the profiler; print the breakdown per training step."""
    run(3)
    sync(device)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        t0 = time.perf_counter()
        run(steps)
        sync(device)
        wall = time.perf_counter() - t0
    events = prof.key_averages()
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    steps *= per_run
    busy = sum(getattr(e, key) for e in events) / 1e3 / steps
    print(f"\n== {name}: {wall / steps * 1e3:.2f} ms/step wall, {busy:.2f} ms/step device-busy (profiled)")
    print(events.table(sort_by=key, row_limit=top, max_name_column_width=60))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workload", default="nin-rotation", choices=list(throughput.WORKLOADS))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    label, rotate = throughput.WORKLOADS[args.workload][0], throughput.WORKLOADS[args.workload][4]
    n = (args.steps + 4) * args.batch
    images, labels, source = throughput.load_images(n)
    mean, std = channel_stats(images)
    print(f"{label} on {device}; {source}; batch {args.batch}; compile {args.compile}")

    # The model alone: the engine's step on one batch its data path made (throughput.py).
    rig = throughput.build_rig(args.workload, images, labels, args.batch, args.steps, device, args.compile)
    step, batch = throughput.model_only_step(rig)

    def model_steps(k: int) -> None:
        for _ in range(k):
            step(batch)

    profiled("model-only", model_steps, args.steps, device, args.top)

    # The engine's whole fit loop on a fresh rig, built and compiled the same way.
    def engine_steps(k: int) -> None:
        rig = throughput.build_rig(args.workload, images, labels, args.batch, k, device, args.compile)
        throughput.engine_side(rig, k, repeats=1)

    # Engine.fit runs 2 epochs of k steps (and three evaluations of 16 images).
    profiled("engine", engine_steps, args.steps, device, args.top, per_run=2)

    # The data path alone: batches cropped, flipped, normalised (and rotated), no model.
    split = Split(images, labels.astype(np.int64))
    meta = {"class_names": [str(i) for i in range(10)], "mean": mean, "std": std}
    data = DeviceDataset.from_prepared(PreparedDataset("p", split, split, split, meta), device, channels_last=True)
    aug = AugmentParams()

    def data_steps(k: int) -> None:
        for i, batch in enumerate(data.train.train_batches(args.batch, aug, 10, 0, 1)):
            if rotate:
                rotation.rotate_all(batch.x)
            if i + 1 >= k:
                break

    data_steps(3)
    sync(device)
    t0 = time.perf_counter()
    data_steps(args.steps)
    sync(device)
    per = (time.perf_counter() - t0) / args.steps
    print(f"\n== data path alone: {per * 1e3:.2f} ms/batch = {args.batch / per:,.0f} source images/s")
    profiled("data path alone", data_steps, args.steps, device, args.top)


if __name__ == "__main__":
    main()
