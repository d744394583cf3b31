"""What a fit gives back, and how stages write it down: one home for result formatting.

``FitResult`` and ``OutputResult`` are what Engine.fit returns; ``final_outputs`` turns a
fit's best (or last) epochs and its one test pass into them. The rest formats a stage's
metrics (figures compared across experiments, rounded) and its run record (how it ran:
recipe, device, host, times), never mixing the two.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch

from rotnet.params import TrainParams
from rotnet.training.runtime import describe_device, describe_precision

if TYPE_CHECKING:  # the environment holds a stage's data and device; it never imports this back
    from rotnet.training.environment import StageEnvironment


@dataclass
class OutputResult:
    best_epoch: int
    val_acc: float
    test_acc: float
    test_confusion: list[list[int]]  # rows: true class, columns: predicted class


@dataclass
class FitResult:
    """What fit() trained and how fast. A resumed run reports the whole run, over all its
    segments (the fit() calls it took, ``extra["segments"]``): the time and images of the
    epochs its checkpoints kept. Work a kill threw away after the last checkpoint is redone,
    not counted; each later segment's start-up (sizing, compiling, loading) is counted.
    ``extra["segments"]`` is None when the run resumed from a checkpoint written before the
    counts were saved: its wall time then covers the last segment only (images and train
    time are whole all the same)."""

    outputs: dict[str, OutputResult]
    history: list[dict[str, float]]
    epochs: int
    train_time_s: float  # optimizer steps only, validation excluded; all segments
    train_images: int  # source images seen in training (before any rotation copies); all segments
    wall_time_s: float  # the sum of the segments' wall times (each killed one up to its last checkpoint)
    steps_per_epoch: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        return self.train_images / max(self.train_time_s, 1e-9)


def accuracy(confusion: torch.Tensor) -> float:
    """Accuracy % of a confusion matrix (the diagonal over the whole)."""
    return float(confusion.diagonal().sum() / confusion.sum().clamp(min=1) * 100)


def per_class_accuracy(confusion: list[list[int]], class_names: list[str]) -> dict[str, float]:
    """Accuracy % of each true class, from a confusion matrix (rows: true class)."""
    return {
        name: round(row[i] / max(sum(row), 1) * 100, 2)
        for i, (name, row) in enumerate(zip(class_names, confusion, strict=False))
    }


def final_outputs(
    outputs: list[str],
    follows: dict[str, str],
    best: dict[str, tuple[float, int, Any]],
    history: list[dict[str, float]],
    test: dict[str, torch.Tensor],
    keep: Literal["best", "last"],
) -> dict[str, OutputResult]:
    """Each output's result: its kept epoch (the best on validation, or the last), that
    epoch's validation accuracy and the test figures of the one test pass. An output that
    ``follows`` another keeps that one's epoch."""
    results = {}
    for o in outputs:
        if keep == "last":
            epoch, val_acc = history[-1]["epoch"], history[-1][f"val_acc/{o}"]
            results[o] = OutputResult(int(epoch), val_acc, accuracy(test[o]), test[o].tolist())
            continue
        epoch = best[follows.get(o, o)][1]
        val_acc = best[o][0] if o in best else next(r[f"val_acc/{o}"] for r in history if r["epoch"] == epoch)
        results[o] = OutputResult(epoch, val_acc, accuracy(test[o]), test[o].tolist())
    return results


def recipe(cfg: TrainParams) -> dict[str, Any]:
    """The training recipe, recorded beside the figures it produced."""
    aug = cfg.augment
    return {
        "optimizer": cfg.optimizer.name,
        "lr": cfg.optimizer.lr,
        "weight_decay": cfg.optimizer.weight_decay,
        "schedule": cfg.schedule.name,
        "warmup_epochs": cfg.schedule.warmup_epochs,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "label_smoothing": cfg.label_smoothing,
        "crop_padding": aug.crop_padding,
        "flip": aug.flip,
        "resize_scale": list(aug.resize_scale) if aug.resize_scale else None,
        "autoaugment": aug.autoaugment,
        "cutmix_prob": aug.cutmix_prob,
    }


def run_details(env: StageEnvironment, cfg: TrainParams, result: FitResult | None = None) -> dict[str, Any]:
    """How the stage ran, for the run record, never for the metrics: the stage, its data,
    training seed, recipe, device and host, and with a fit's ``result`` its times."""
    prepared, params = env.prepared, env.params
    details: dict[str, Any] = {
        "stage": env.kind,
        "dataset": env.dataset,
        "data": prepared.meta.get("description", env.dataset),
        "backbone": env.backbone,
        "training_seed": env.seed,
        "recipe": recipe(cfg),
        "epochs": cfg.epochs,
        "device": describe_device(env.device),
        **describe_precision(env.device, params.runtime.amp),
        # What the report sets beside the official protocol (rotnet.report.protocol).
        "train_images": len(prepared.train.labels),
        "data_official": bool((prepared.meta.get("provenance") or {}).get("official", False)),
        "backbone_options": params.backbone_options(env.backbone) if env.backbone else None,
        "processes": env.world.size,
        "host": platform.node(),
        "torch": torch.__version__,
    }
    if result is not None:
        details.update(
            wall_time_s=round(result.wall_time_s, 2),
            train_time_s=round(result.train_time_s, 2),
            images_per_s=round(result.images_per_s, 1),
        )
        if "micro_batch" in result.extra:  # images per micro-batch, as run (after auto)
            details["micro_batch"] = result.extra["micro_batch"]
        if "segments" in result.extra:  # fit() calls the run took (1: never resumed; None: unknown)
            details["segments"] = result.extra["segments"]
    return details


def output_results(
    env: StageEnvironment, out: OutputResult, result: FitResult, cfg: TrainParams, prefix: str = "", **details: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics and run record of a stage with one output: its validation and test
    accuracy and throughput, and, in the record, the best epoch, ``details`` and how it ran."""
    metrics = {
        f"{prefix}val_acc": round(out.val_acc, 2),
        f"{prefix}test_acc": round(out.test_acc, 2),
        "images_per_s": round(result.images_per_s, 1),
    }
    return metrics, {**metrics, "best_epoch": out.best_epoch, **details, **run_details(env, cfg, result)}


def classifier_results(
    env: StageEnvironment, out: OutputResult, result: FitResult, cfg: TrainParams, **details: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``output_results`` of a stage whose output classifies the dataset's classes: the
    record also holds the per-class test accuracy and the test confusion matrix."""
    return output_results(
        env,
        out,
        result,
        cfg,
        **details,
        per_class_test_acc=per_class_accuracy(out.test_confusion, env.prepared.class_names),
        test_confusion=out.test_confusion,
    )
