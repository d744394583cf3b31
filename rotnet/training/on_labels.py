"""A backbone trained on the labels with the supervised recipe: the supervised stage's run,
which the baseline stage shares for its reference backbones (stages never import stages)."""

from __future__ import annotations

from typing import Any

from rotnet.params import Params
from rotnet.training import results
from rotnet.training.context import StageRun
from rotnet.training.tasks import SupervisedTask


def train_on_labels(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    """Train ``backbone`` on ``dataset``'s labels for every seed; writes the supervised stage's
    outputs (model, run record, metrics, history, logs) and returns its metrics."""
    cfg = params.recipe("supervised", backbone)
    with StageRun(params, "supervised", dataset, backbone) as stage:
        env, outputs = stage.env, stage.outputs
        for _ in stage.each_seed():
            classes = env.prepared.num_classes
            model = env.new_backbone(classes)
            result = stage.fit(SupervisedTask(model, classes), cfg)
            out = result.outputs[SupervisedTask.output]
            outputs.save_model(model, classes, best_epoch=out.best_epoch)
            metrics, record = results.classifier_results(env, out, result, cfg)
            stage.write_results(metrics, record)
    return stage.metrics
