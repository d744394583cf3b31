"""Training throughput of rotnet's engine against a plain PyTorch pipeline and against the
model alone, in one run.

Two workloads by default, same model, batch and step count everywhere:
- NIN rotation pretraining (batch of B images = 4B samples),
- ResNet-18 supervised training.
Three ways to feed the same training step:
- plain: the usual recipe: a PIL-image Dataset, torchvision transforms (random crop with
  padding 4, flip, to-tensor, normalize), a DataLoader with worker processes; rotations
  made per image in the Dataset as the paper's code does;
- engine: rotnet's, the uint8 dataset on the device, whole batches augmented there;
- model-only: the step looped on one fixed batch already on the device, no data work:
  the ceiling any data path can reach.
Plain and model-only get the engine's model-side settings (channels-last, bf16 autocast
on CUDA, torch.compile when asked), so each ratio isolates the data path.

Every figure is in source images per second (rotation pretraining trains on 4 rotated
samples per image: multiply by 4 for samples/s).

    python benchmarks/throughput.py                  # real images when ../shared has them
    python benchmarks/throughput.py --steps 30 --device cuda
    python benchmarks/throughput.py --workloads resnet50 effb0-stride effb0-upsample --compile both

Prints images/s for each side and the engine/baseline ratio (images = source images;
rotation pretraining trains on 4 samples per image).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from rotnet.data.device import DeviceDataset
from rotnet.data.prepared import PreparedDataset, Split, channel_stats
from rotnet.models.registry import create_backbone
from rotnet.params import RuntimeParams, ScheduleParams, TrainParams
from rotnet.training.engine import Engine
from rotnet.training.runtime import autocast, describe_device
from rotnet.training.tasks import RotationTask, SupervisedTask

MINI = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-jpeg-mini.tar.gz"


def load_images(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """n real CIFAR-10 train images from the mini archive, or random ones without it."""
    if MINI.is_file():
        from rotnet.data.prepared import load_prepared
        from rotnet.params import DatasetParams
        from rotnet.stages.prepare import prepare as prepare_dataset

        with tempfile.TemporaryDirectory() as tmp:
            cfg = DatasetParams(source="imagefolder", path=str(MINI), val_size=100)
            prepare_dataset("cifar10", cfg, Path(tmp) / "p", seed=0)
            data = load_prepared(Path(tmp) / "p")
        reps = -(-n // len(data.train.labels))
        images = np.concatenate([data.train.images] * reps)[:n]
        labels = np.concatenate([data.train.labels] * reps)[:n]
        return images, labels, f"CIFAR-10 JPEG mini ({MINI.name})"
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n), "random images"


class PilDataset(Dataset):
    """The torchvision-CIFAR10 way: one PIL image per item, transformed in a worker."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean: list[float], std: list[float], rotate: bool):
        self.images, self.labels, self.rotate = images, labels, rotate
        self.transform = transforms.Compose(
            [
                transforms.RandomCrop(32, padding=4),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize(mean, std),
            ]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = self.transform(Image.fromarray(self.images[i]))
        if self.rotate:  # the official RotNet loader: four rotated copies per image
            return torch.stack([torch.rot90(x, k, (1, 2)) for k in range(4)]), torch.arange(4)
        return x, int(self.labels[i])


def training_step(model: torch.nn.Module, device: torch.device, compile_: bool):
    """The step every side runs: the engine's model settings (channels-last; bf16 autocast
    on CUDA; optionally compiled), SGD Nesterov."""
    model.to(device, memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    forward = torch.compile(model) if compile_ else model

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with autocast(device, True):
            loss = F.cross_entropy(forward(x.contiguous(memory_format=torch.channels_last)).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _timed(step, batches, steps: int, device: torch.device) -> float:
    """Seconds for ``steps`` steps after one warm-up step (workers, kernels, compile)."""
    t0 = 0.0
    for i in range(steps + 1):
        if i == 1:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        step(*next(batches))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def model_only(model, images, labels, mean, std, rotate, batch, steps, device, compile_: bool) -> float:
    """The training step on one fixed, ready batch on the device: no data work at all."""
    x = torch.from_numpy(images[:batch]).to(device).permute(0, 3, 1, 2).float()
    m = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255
    s = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255
    x = (x - m) / s
    y = torch.from_numpy(labels[:batch].astype(np.int64)).to(device)
    if rotate:  # the same 4B samples a rotation step trains on
        x = torch.cat([torch.rot90(x, k, (2, 3)) for k in range(4)])
        y = torch.arange(4, device=device).repeat_interleave(batch)
    step = training_step(model, device, compile_)

    def fixed():
        while True:
            yield x, y

    return steps * batch / _timed(step, fixed(), steps, device)


def baseline(model, images, labels, mean, std, rotate, batch, steps, workers, device, compile_: bool = False) -> float:
    loader = DataLoader(
        PilDataset(images, labels, mean, std, rotate),
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    step = training_step(model, device, compile_)

    def batches():
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            yield (x.flatten(0, 1), y.flatten()) if rotate else (x, y)

    return steps * batch / _timed(step, batches(), steps, device)


def engine(model, task_cls, images, labels, mean, std, batch, steps, device, compile_: bool) -> float:
    n_val = 16
    split = Split(images[: steps * batch], labels[: steps * batch].astype(np.int64))
    small = Split(images[:n_val], labels[:n_val].astype(np.int64))
    meta = {"class_names": [str(i) for i in range(10)], "mean": mean, "std": std}
    data = DeviceDataset.from_prepared(PreparedDataset("bench", split, small, small, meta), device)
    runtime = RuntimeParams(device=str(device), compile=compile_)
    eng = Engine(data, runtime, device)
    task = task_cls(model) if task_cls is RotationTask else task_cls(model, 10)
    cfg = TrainParams(epochs=2, batch_size=batch, schedule=ScheduleParams(milestones=[]), optimizer={"lr": 0.01})
    # Epoch 1 is the warm-up (kernels, compile); epoch 2's training steps are timed.
    result = eng.fit(task, cfg, seed=0, desc="bench")
    return result.history[1]["images_per_s"]


# name: (label, backbone, options, task, rotate)
WORKLOADS = {
    "nin-rotation": ("NIN rotation pretraining", "nin", {}, RotationTask, True),
    "resnet18": ("ResNet-18 supervised", "resnet18", {}, SupervisedTask, False),
    "resnet50": ("ResNet-50 supervised", "resnet50", {}, SupervisedTask, False),
    "effb0-stride": (
        "EfficientNet-B0 (stride) supervised",
        "efficientnet_b0",
        {"small_input": "stride"},
        SupervisedTask,
        False,
    ),
    "effb0-upsample": (
        "EfficientNet-B0 (upsample 128) supervised",
        "efficientnet_b0",
        {"small_input": "upsample", "upsample_size": 128},
        SupervisedTask,
        False,
    ),
}


SIDES = ("plain", "engine", "model-only")


def measure(
    key: str,
    side: str,
    images: np.ndarray,
    labels: np.ndarray,
    batch: int,
    steps: int,
    device: torch.device,
    compile_: bool,
    workers: int = 2,
) -> float:
    """Source images/s of one workload fed one way (SIDES), on a fresh, seeded model."""
    _, name, options, task_cls, rotate = WORKLOADS[key]
    torch.manual_seed(0)
    model = create_backbone(name, 4 if rotate else 10, options=options)
    mean, std = channel_stats(images)
    common = (images, labels, mean, std)
    if side == "plain":
        return baseline(model, *common, rotate, batch, steps, workers, device, compile_)
    if side == "engine":
        return engine(model, task_cls, *common, batch, steps, device, compile_)
    if side == "model-only":
        return model_only(model, *common, rotate, batch, steps, device, compile_)
    raise ValueError(f"unknown side {side!r}; one of {SIDES}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=8, help="timed optimizer steps per measurement")
    ap.add_argument("--batch", type=int, default=128, help="images per batch (rotation: x4 samples)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the baseline")
    ap.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=["nin-rotation", "resnet18"])
    ap.add_argument("--compile", choices=["off", "on", "both"], default="off", help="torch.compile the engine's step")
    args = ap.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    images, labels, source = load_images((args.steps + 2) * args.batch)
    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    print(f"device: {describe_device(device)}; data: {source}; batch {args.batch}; {args.steps} timed steps")
    print("figures: source images/s (rotation pretraining: x4 rotated samples/s)")
    header = ("workload", "compile", "plain", "engine", "model-only", "engine/plain", "engine/model", "plain/model")
    print(f"{header[0]:44s} {header[1]:>7s} " + " ".join(f"{h:>12s}" for h in header[2:]))
    for key in args.workloads:
        label = WORKLOADS[key][0]
        for compile_ in compiles:
            plain, ours, ceiling = (
                measure(key, side, images, labels, args.batch, args.steps, device, compile_, args.workers)
                for side in SIDES
            )
            flag = "on" if compile_ else "off"
            figures = (plain, ours, ceiling)
            ratios = (ours / plain, ours / ceiling, plain / ceiling)
            print(
                f"{label:44s} {flag:>7s} "
                + " ".join(f"{v:12.1f}" for v in figures)
                + " "
                + " ".join(f"{r:11.2f}x" if i == 0 else f"{r:11.0%} " for i, r in enumerate(ratios)),
                flush=True,
            )


if __name__ == "__main__":
    main()
