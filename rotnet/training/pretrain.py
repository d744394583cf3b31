"""RotNet pretraining: predict which of four rotations an image was shown at."""

from __future__ import annotations

from typing import Any

from rotnet.params import Params
from rotnet.training.stage import StageContext
from rotnet.training.supervised import per_class_accuracy
from rotnet.training.tasks import RotationTask

ROTATIONS = ["0", "90", "180", "270"]


def run_pretrain(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    ctx = StageContext.open(params, "pretrain", dataset, backbone)
    model = ctx.new_backbone(RotationTask.num_classes)
    result = ctx.fit(RotationTask(model), params.pretrain)
    out = result.outputs[RotationTask.output]
    ctx.save_backbone(model.cpu(), RotationTask.num_classes, best_epoch=out.best_epoch, task="rotation")
    metrics = {
        "rotation_val_acc": round(out.val_acc, 2),
        "rotation_test_acc": round(out.test_acc, 2),
        "best_epoch": out.best_epoch,
        **ctx.common_metrics(result, params.pretrain),
        "per_rotation_test_acc": per_class_accuracy(out.test_confusion, ROTATIONS),
    }
    ctx.write_metrics(metrics)
    ctx.close()
    return metrics
