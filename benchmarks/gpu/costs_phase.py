"""make gpu-check, part 2: the per-backbone cost probe. Each backbone's supervised, rotation,
SimCLR and BYOL training at its committed recipe and batch (benchmarks/costs.py), in a child;
its table and the paper-scale study's GPU-hours at those rates, in the parent."""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path
from typing import Any

from benchmarks.gpu.children import emit, run_child
from benchmarks.gpu.common import ROOT, device_of, log, num
from rotnet.report.gpu_check_schema import CostEntry, CostRow, StudyGpuHours

COST_TASKS = ["supervised", "rotation", "simclr", "byol"]  # = benchmarks/costs.py's TASKS
METHODS = ["simclr", "byol"]  # the study.methods entries the probe measures, each its params section
# The official train splits (the downloads'); the study trains on them less params' val_size.
OFFICIAL_TRAIN = {"cifar10": (50_000, 10), "fashion_mnist": (60_000, 10)}  # images, classes
CPU_PEAK = "not measured on the CPU: one process measures every backbone (benchmarks/costs.py runs one each)"


def committed_backbones() -> list[str]:
    """params.yaml's study.backbones: the default of --cost-backbones."""
    import yaml

    return list(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["study"]["backbones"])


def cost_params(width: int | None):
    """The committed params.yaml; with ``width``, every backbone entry that has a width
    (NIN, the ResNets) takes it instead: a quick run's small models."""
    import yaml

    from rotnet.params import parse_params

    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    if width:
        for opts in raw["backbones"].values():
            if isinstance(opts, dict) and "width" in opts:
                opts["width"] = width
    return parse_params(raw, "params.yaml (gpu-check costs)")


def free_device(device) -> None:
    """Give back what the last measurement left cached, so the next one has the whole GPU."""
    gc.collect()
    if device.type == "cuda":
        import torch

        torch.cuda.empty_cache()


def phase_costs(args: argparse.Namespace, rows: Path) -> None:
    from benchmarks import costs

    device = device_of(args.device)
    params = cost_params(args.cost_width)
    for backbone in args.cost_backbones:
        for task in args.cost_tasks:
            row = {"backbone": backbone, "task": task}
            left = args.until - time.time()
            if left < args.min_measure_s:
                emit(rows, {**row, "skipped": f"time box ({left:.0f} s left)"})
                continue
            try:
                got = costs.measure(backbone, task, args.cost_steps, str(device), params)
            except Exception as err:  # one failed measurement must not cost the others
                emit(rows, {**row, "error": f"{type(err).__name__}: {err}"[:500]})
                log(f"cost {backbone} {task}: failed: {err}")
                continue
            finally:
                free_device(device)
            if device.type != "cuda":  # this process's peak RSS spans every measurement so far
                got.update(peak_gib=None, peak_of=CPU_PEAK)
            emit(rows, got)
            log(f"cost {backbone} {task}: {got['images_per_s']:.1f} images/s, micro-batch {got['micro_batch']}, "
                f"peak {num(got['peak_gib'], '.2f')} GiB ({got['seconds']:.0f} s with warm-up)")  # fmt: skip


def cost_table(
    rows: list[CostRow], backbones: list[str], tasks: list[str] = COST_TASKS
) -> dict[str, dict[str, CostEntry]]:
    """Per backbone and task: its row without the keys, or why it has no figures."""
    stopped = {"skipped": "the phase stopped before it"}
    table = {b: {t: dict(stopped) for t in tasks} for b in backbones}
    for r in rows:
        table.setdefault(r["backbone"], {})[r["task"]] = {k: v for k, v in r.items() if k not in ("backbone", "task")}
    return table


def train_images(params, dataset: str) -> int | None:
    """Images in the study's train split of ``dataset``: the official train split less
    val_size (None for a dataset of unknown size, an image folder say)."""
    if dataset not in OFFICIAL_TRAIN:
        return None
    total, classes = OFFICIAL_TRAIN[dataset]
    cfg = params.dataset(dataset)
    n = total - cfg.val_size
    return min(n, classes * cfg.train_per_class) if cfg.train_per_class else n


def stage_hours(cfg, train: int, images_per_s: float) -> float:
    """Hours of training steps for ``cfg.epochs`` epochs; an epoch is epoch_size (or the
    train split) // batch_size full batches, as the engine runs it."""
    per_epoch = (cfg.epoch_size or train) // cfg.batch_size * cfg.batch_size
    return cfg.epochs * per_epoch / images_per_s / 3600


def study_gpu_hours(table: dict[str, dict[str, CostEntry]], params, width: int | None) -> StudyGpuHours:
    """GPU-hours of the study's supervised and pretraining steps (RotNet's, and SimCLR's and
    BYOL's where study.methods has them and they were measured), per backbone and dataset, at
    the measured images/s. A backbone needs its supervised and rotation rates; a method it
    lacks a rate for is listed in ``methods_unmeasured`` and left out of the totals."""
    sizes = {d: train_images(params, d) for d in params.study.datasets}
    methods = [m for m in METHODS if m in params.study.methods]
    per_backbone: dict[str, Any] = {}
    missing: list[str] = []
    for backbone, tasks in table.items():
        rate = {t: (tasks.get(t) or {}).get("images_per_s") for t in ("supervised", "rotation", *methods)}
        if not (rate["supervised"] and rate["rotation"]):
            continue
        cfgs = {"supervised": params.recipe("supervised", backbone), "pretrain": params.recipe("pretrain", backbone)}
        rates = {"supervised": rate["supervised"], "pretrain": rate["rotation"]}
        for m in methods:
            if rate[m]:
                cfgs[m], rates[m] = params.recipe(m, backbone), rate[m]
            else:
                missing.append(f"{backbone} {m}")
        hours = {}
        for d, n in sizes.items():
            if n:
                got = {k: stage_hours(cfg, n, rates[k]) for k, cfg in cfgs.items()}
                hours[d] = {**{k: round(v, 3) for k, v in got.items()}, "total": round(sum(got.values()), 3)}
        per_backbone[backbone] = {
            "epochs": {k: cfg.epochs for k, cfg in cfgs.items()},
            "datasets": hours,
            "total": round(sum(h["total"] for h in hours.values()), 3),
        }
    note = (
        "training steps only: each backbone's supervised, RotNet pretraining and (where measured) SimCLR and BYOL "
        "pretraining epochs (its recipe's, beside it) of the train split (official train less val_size, in full "
        "batches: 128 images, SimCLR and BYOL 512) at the measured images/s; "
        "not included: evaluation (the methods' kNN monitor each epoch among it), the probes and controls, "
        "fine-tuning, semisup, small_input, the baselines, checkpoints and start-up. Rates are for 32x32 RGB; "
        "Fashion-MNIST's one channel changes only the first convolution"
    )
    if missing:
        note += f". Not measured, so not in the totals: {', '.join(missing)}"
    if width:
        note += f". Measured at --cost-width {width}, not the committed widths: not the committed study's hours"
    return {
        "per_backbone": per_backbone,
        "total": round(sum(b["total"] for b in per_backbone.values()), 3),
        "unmeasured": [b for b in table if b not in per_backbone],
        "methods_unmeasured": missing,
        "train_images": sizes,
        "note": note,
    }


def run_costs(args: argparse.Namespace, res: dict[str, Any], until: float, extra: list[str]) -> None:
    """The per-backbone probe in its own child until ``until``; its table and the study's
    GPU-hours into ``res``."""
    costs = res["costs"]
    if not args.cost_backbones:
        costs["status"] = "skipped: --cost-backbones is empty"
        return
    cs = run_child("costs", args, until, extra)
    res["phases"]["costs"] = {"status": cs["status"], "seconds": cs["seconds"]}
    table = cost_table(cs["rows"], args.cost_backbones, args.cost_tasks)
    hours = study_gpu_hours(table, cost_params(None), args.cost_width)
    costs.update(status=cs["status"], rows=cs["rows"], table=table, study_gpu_hours=hours)
