"""make zoo-smoke: each backbone family trained briefly on real images, with its committed recipe.

A smoke run, not the study: a few epochs on a few classes show whether each backbone's
recipe (params.yaml, `backbones.<name>.recipe` merged in) starts to learn from scratch, and
what an epoch costs. Per backbone: supervised training and RotNet pretraining, each with
its recipe's schedule compressed to the epochs given (step milestones at the same
fractions; a warm-up keeps at least one epoch). Epochs and weights are chosen on a
validation split carved from train; the test split is read once per run.

    python benchmarks/zoo_smoke.py                                    # NIN, ResNet-18, EfficientNet-B0
    python benchmarks/zoo_smoke.py --backbones resnet101 --tasks supervised \\
        --set backbones.resnet101.recipe.supervised.schedule.warmup_epochs=0   # a variant

Data: the CIFAR-10 JPEG mini copy in ../shared (or --data: any image folder or archive
with train/<class>/ and test/<class>/), cut to its first --classes classes. Writes one JSON
to benchmarks/results/zoo-smoke/<date>-<host>.json (never overwritten); the report shows
the newest, labelled as a smoke run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # runs without `pip install -e .`

from benchmarks.gpu.common import result_path, scaled  # noqa: E402  (the same milestones and file naming)

SHARED_MINI = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg-mini.tar.gz"
OUT = ROOT / "benchmarks" / "results" / "zoo-smoke"
FAMILIES = ["nin", "resnet18", "efficientnet_b0"]  # one backbone per block type
SECTION = {"supervised": "supervised", "rotation": "pretrain"}


def compressed(cfg: Any, epochs: int) -> Any:
    """``cfg`` (a training section) cut to ``epochs``: step milestones at the same fractions
    of the run, a warm-up scaled alike but kept to at least one epoch."""
    sched = cfg.schedule
    warmup = max(1, round(sched.warmup_epochs * epochs / cfg.epochs)) if sched.warmup_epochs else 0
    update = {"milestones": scaled(sched.milestones, cfg.epochs, epochs), "warmup_epochs": min(warmup, epochs - 1)}
    return cfg.model_copy(update={"epochs": epochs, "schedule": sched.model_copy(update=update)})


def apply_sets(raw: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """``KEY.PATH=VALUE`` overrides (VALUE read as YAML), as `dvc exp run -S` takes them."""
    import yaml

    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: write KEY.PATH=VALUE, e.g. supervised.optimizer.lr=0.05")
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return raw


def first_classes(data: Any, k: int, val_per_class: int, seed: int) -> Any:
    """The dataset cut to its first ``k`` classes, a stratified validation split of
    ``val_per_class`` images a class carved from their train images, and normalisation
    recomputed on what is left for training."""
    import numpy as np

    from rotnet.data.prepared import PreparedDataset, Split, channel_stats
    from rotnet.data.split import stratified_split, take

    def cut(split: Split) -> Split:
        keep = split.labels < k
        return Split(split.images[keep], split.labels[keep])

    pool = cut(
        Split(
            np.concatenate([data.train.images, data.val.images]), np.concatenate([data.train.labels, data.val.labels])
        )
    )
    train_idx, val_idx = stratified_split(pool.labels, val_per_class * k, seed)
    train = take(pool, train_idx)
    mean, std = channel_stats(train.images)
    meta = {**data.meta, "class_names": data.meta["class_names"][:k], "mean": mean, "std": std}
    return PreparedDataset(data.name, train, take(pool, val_idx), cut(data.test), meta)


def load_data(args: argparse.Namespace, seed: int) -> Any:
    from rotnet.data.prepared import load_prepared
    from rotnet.params import DatasetParams
    from rotnet.stages.prepare import prepare

    with tempfile.TemporaryDirectory(prefix="zoo-smoke-") as work:
        # The whole source, one image aside for validation (carved again below, per class).
        cfg = DatasetParams(source="imagefolder", val_size=1)
        prepare("cifar10", cfg, Path(args.data), Path(work) / "prepared", seed=seed)
        data = load_prepared(Path(work) / "prepared")
    if args.classes > len(data.meta["class_names"]):
        raise SystemExit(f"--classes {args.classes}: {args.data} has {len(data.meta['class_names'])} classes")
    return first_classes(data, args.classes, args.val_per_class, seed)


def run_one(params: Any, data: Any, classes: int, backbone: str, task_name: str, epochs: int) -> dict[str, Any]:
    """One brief training run on ``data`` (a DeviceDataset of ``classes`` classes); its
    losses, accuracies and cost."""
    import torch

    from rotnet.models.registry import create_backbone
    from rotnet.training.engine import Engine
    from rotnet.training.results import recipe
    from rotnet.training.tasks import RotationTask, SupervisedTask

    full = params.recipe(SECTION[task_name], backbone)
    cfg = compressed(full, epochs)
    torch.manual_seed(params.seed)
    opts = params.backbone_options(backbone)
    if task_name == "rotation":
        task = RotationTask(create_backbone(backbone, len(cfg.rotations), options=opts), cfg.rotations)
    else:
        task = SupervisedTask(create_backbone(backbone, classes, options=opts), classes)
    engine = Engine(data, params.runtime, data.train.device)
    t0 = time.perf_counter()
    result = engine.fit(task, cfg, seed=params.seed, desc=f"zoo-smoke {backbone} {task_name}")
    out = result.outputs[task.output]
    return {
        "backbone": backbone,
        "task": task_name,
        "recipe": recipe(cfg),
        "epochs": epochs,
        "paper_scale_epochs": full.epochs,
        "chance_loss": round(math.log(task.num_classes), 4),
        "train_loss": [round(r["train_loss"], 4) for r in result.history],
        "val_acc": [round(r[f"val_acc/{task.output}"], 2) for r in result.history],
        "best_epoch": out.best_epoch,
        "test_acc": round(out.test_acc, 2),
        "chance_acc": round(100 / task.num_classes, 2),
        "micro_batch": result.extra.get("micro_batch"),
        "images_per_s": round(result.images_per_s, 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbones", nargs="+", default=FAMILIES, help="params.yaml backbone entries")
    ap.add_argument("--tasks", nargs="+", default=list(SECTION), choices=list(SECTION))
    ap.add_argument("--epochs", type=int, nargs=2, default=[4, 3], metavar=("SUPERVISED", "ROTATION"))
    ap.add_argument("--data", type=Path, default=SHARED_MINI, help="image folder or archive (train/, test/)")
    ap.add_argument("--classes", type=int, default=3, help="keep the first N classes")
    ap.add_argument("--val-per-class", type=int, default=60, help="validation images carved from train per class")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="params.yaml override (repeat)")
    ap.add_argument("--out", type=Path, default=OUT, help="folder for the JSON")
    args = ap.parse_args(argv)
    if not args.data.exists():
        ap.error(f"--data {args.data} does not exist; give an image folder or archive with train/ and test/")
    if min(args.epochs) < 1 or args.classes < 2:
        ap.error("--epochs must be at least 1 and --classes at least 2")

    import torch
    import yaml

    from rotnet.atomic import write_json
    from rotnet.data.device import DeviceDataset
    from rotnet.errors import RotnetError
    from rotnet.params import parse_params
    from rotnet.training.runtime import resolve_device

    raw = apply_sets(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8")), args.set)
    # The largest micro-batch that fits (the CPU estimate, CUDA trials): ResNet-101 at 128
    # images a step needs 23 GiB on the CPU. BatchNorm then sees micro-batches (recorded).
    raw["runtime"].update(device=args.device, resume=False, micro_batch="auto")
    params = parse_params(raw, "params.yaml (zoo-smoke)")
    unknown = [b for b in args.backbones if b not in params.backbones]
    if unknown:
        ap.error(f"--backbones: {unknown} are not params.yaml backbones; choose from {sorted(params.backbones)}")
    device = resolve_device(params.runtime)
    data = load_data(args, params.seed)
    on_device = DeviceDataset.from_prepared(data, device)  # once, shared by every run
    counts = {s: len(getattr(data, s).labels) for s in ("train", "val", "test")}
    date = dt.date.today().isoformat()
    host = platform.node().split(".")[0] or "host"
    args.out.mkdir(parents=True, exist_ok=True)
    path = result_path(args.out, host, date)
    res: dict[str, Any] = {
        "kind": "rotnet zoo-smoke",
        "schema": 1,
        "date": date,
        "host": host,
        "device": str(device),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "data": f"{data.meta.get('description', args.data.name)}, first {args.classes} classes "
        f"({', '.join(data.meta['class_names'])})",
        "counts": counts,
        "sets": args.set,
        "rows": [],
    }
    epochs = dict(zip(SECTION, args.epochs, strict=True))
    for backbone in args.backbones:
        for task_name in args.tasks:
            try:
                row = run_one(params, on_device, args.classes, backbone, task_name, epochs[task_name])
            except RotnetError as err:  # one failed run must not cost the others
                res["rows"].append({"backbone": backbone, "task": task_name, "error": str(err)})
                write_json(path, res)
                print(f"{backbone:18s} {task_name:10s} failed: {err}", flush=True)
                continue
            res["rows"].append(row)
            write_json(path, res)  # kept as it grows: a stopped run keeps what it measured
            print(
                f"{backbone:18s} {task_name:10s} loss {row['train_loss'][0]:.3f} -> {row['train_loss'][-1]:.3f} "
                f"(chance {row['chance_loss']:.3f}); val {max(row['val_acc']):.1f}%, test {row['test_acc']:.1f}% "
                f"(chance {row['chance_acc']:.1f}); {row['images_per_s']:.1f} images/s",
                flush=True,
            )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
