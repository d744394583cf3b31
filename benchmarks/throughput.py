"""Training throughput of rotnet's engine against a plain PyTorch baseline, in one run.

Two workloads, same model, batch and step count on both sides:
- NIN rotation pretraining (batch of B images = 4B samples),
- ResNet-18 supervised training.
The baseline is the usual recipe: a PIL-image Dataset, torchvision transforms
(random crop with padding 4, flip, to-tensor, normalize), a DataLoader with worker
processes, fp32, NCHW; rotations made per image in the Dataset as the paper's code does.
The engine keeps the uint8 dataset on the device and augments whole batches there.

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
from rotnet.training.runtime import describe_device
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


def baseline(model, images, labels, mean, std, rotate, batch, steps, workers, device) -> float:
    loader = DataLoader(
        PilDataset(images, labels, mean, std, rotate),
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    it = iter(loader)
    t0 = None
    for step in range(steps + 1):
        if step == 1:  # step 0 warms up workers and kernels
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        x, y = next(it)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if rotate:
            x, y = x.flatten(0, 1), y.flatten()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


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
    mean, std = channel_stats(images)
    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    print(f"device: {describe_device(device)}; data: {source}; batch {args.batch}; {args.steps} timed steps")
    print(f"{'workload':44s} {'compile':>7s} {'baseline img/s':>15s} {'engine img/s':>13s} {'ratio':>7s}")
    for key in args.workloads:
        label, name, options, task_cls, rotate = WORKLOADS[key]
        classes = 4 if rotate else 10
        torch.manual_seed(0)
        base = baseline(
            create_backbone(name, classes, options=options),
            images,
            labels,
            mean,
            std,
            rotate,
            args.batch,
            args.steps,
            args.workers,
            device,
        )
        for compile_ in compiles:
            torch.manual_seed(0)
            ours = engine(
                create_backbone(name, classes, options=options),
                task_cls,
                images,
                labels,
                mean,
                std,
                args.batch,
                args.steps,
                device,
                compile_,
            )
            flag = "on" if compile_ else "off"
            print(f"{label:44s} {flag:>7s} {base:15.1f} {ours:13.1f} {ours / base:6.2f}x", flush=True)


if __name__ == "__main__":
    main()
