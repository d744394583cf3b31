"""Scaling of rotation pretraining with the number of processes (DDP via torchrun).

Runs the real pretrain stage on the same data at 1 and 2 processes (each with the same
number of threads) and prints images/s and the scaling efficiency
(images/s at N processes / (N x images/s at 1 process)).

    python benchmarks/scaling.py                      # CPU: gloo, 1 thread per process
    python benchmarks/scaling.py --device cuda --procs 1 2 4 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.throughput import load_images  # noqa: E402
from rotnet.data.prepared import PreparedDataset, Split, channel_stats, save_prepared  # noqa: E402
from rotnet.params import DistributedParams  # noqa: E402
from rotnet.stages.entry import torchrun_argv  # noqa: E402
from rotnet.stages.table import BY_NAME  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run(procs: int, args: argparse.Namespace, images, labels) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n_val = 256
        mean, std = channel_stats(images)
        meta = {"name": "bench", "class_names": [str(i) for i in range(10)], "mean": mean, "std": std}
        split = Split(images[n_val:], labels[n_val:].astype("int64"))
        small = Split(images[:n_val], labels[:n_val].astype("int64"))
        data = PreparedDataset("bench", split, small, small, meta)
        save_prepared(root / "data/prepared/cifar10", {"train": data.train, "val": small, "test": small}, meta)
        params = {
            "study": {"datasets": ["cifar10"], "backbones": ["nin"]},
            "runtime": {"device": args.device, "threads": args.threads},
            "backbones": {"nin": {"width": args.width}},
            "pretrain": {"epochs": args.epochs, "batch_size": args.batch, "schedule": {"milestones": []}},
        }
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        script = str(ROOT / "stages" / "pretrain.py")
        stage_args = ["--dataset", "cifar10", "--backbone", "nin"]
        cmd = [sys.executable, script, *stage_args]
        if procs > 1:
            cfg = DistributedParams(nproc_per_node=procs, rdzv_endpoint=f"localhost:{_free_port()}")
            cmd = torchrun_argv(cfg, BY_NAME["pretrain"], stage_args)
        subprocess.run(cmd, cwd=root, check=True, capture_output=True, timeout=3600)
        history = (root / "metrics/runs/cifar10/nin/pretrain_history.csv").read_text().splitlines()
        header = history[0].split(",")
        col = header.index("images_per_s")
        # Epoch 1 warms up; the mean of the later epochs is the figure.
        rates = [float(line.split(",")[col]) for line in history[2:]] or [float(history[1].split(",")[col])]
        json.loads((root / "metrics/runs/cifar10/nin/pretrain.json").read_text())  # the stage finished
        return sum(rates) / len(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    ap.add_argument("--images", type=int, default=2304)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128, help="global batch of images (x4 rotations)")
    ap.add_argument("--width", type=int, default=96, help="NIN width (192 in the paper)")
    args = ap.parse_args()
    images, labels, source = load_images(args.images)
    print(f"rotation pretraining, NIN width {args.width}, global batch {args.batch}, data: {source}, {args.device}")
    print(f"{'processes':>9s} {'images/s':>10s} {'efficiency':>11s}")
    base = None
    for n in args.procs:
        rate = run(n, args, images, labels)
        base = base or rate * 1 / args.procs[0]
        print(f"{n:9d} {rate:10.1f} {rate / (n * base):10.0%}", flush=True)


if __name__ == "__main__":
    main()
