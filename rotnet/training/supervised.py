"""Supervised training of a backbone on the dataset's labels (the baseline)."""

from __future__ import annotations

from typing import Any

from rotnet.params import Params
from rotnet.training.stage import StageContext
from rotnet.training.tasks import SupervisedTask


def per_class_accuracy(confusion: list[list[int]], class_names: list[str]) -> dict[str, float]:
    return {
        name: round(row[i] / max(sum(row), 1) * 100, 2)
        for i, (name, row) in enumerate(zip(class_names, confusion, strict=False))
    }


def run_supervised(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    ctx = StageContext.open(params, "supervised", dataset, backbone)
    classes = ctx.prepared.num_classes
    model = ctx.new_backbone(classes)
    result = ctx.fit(SupervisedTask(model, classes), params.supervised)
    out = result.outputs[SupervisedTask.output]
    ctx.save_backbone(model.cpu(), classes, best_epoch=out.best_epoch)
    metrics = {
        "val_acc": round(out.val_acc, 2),
        "test_acc": round(out.test_acc, 2),
        "best_epoch": out.best_epoch,
        **ctx.common_metrics(result, params.supervised),
        "per_class_test_acc": per_class_accuracy(out.test_confusion, ctx.prepared.class_names),
        "test_confusion": out.test_confusion,
    }
    ctx.write_metrics(metrics)
    ctx.close()
    return metrics
