"""supervised_rot@<dataset>-<backbone>: supervised training with rotations as extra
supervision, beside the plain supervised stage (params: supervised_rot).

``mode: multitask`` adds a rotation head and loss (Hendrycks et al. 2019); ``mode: joint``
trains one head over (class, rotation) pairs and tests by aggregating the four rotated
copies (Lee, Hwang and Shin 2020), also reporting the upright copy alone. Both select the
epoch by validation class accuracy.

Reads data/prepared/<dataset>. Writes models/<dataset>/<backbone>/supervised_rot/{model.pt,
run.json}, metrics/runs/<dataset>/<backbone>/supervised_rot{.json,_history.csv} and
logs/<dataset>/<backbone>/supervised_rot. The model file holds the classifier only: for
multitask the backbone with its class head (the rotation head is training's alone), for
joint the (class, rotation) head, which `rotnet predict` aggregates as the test does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet.params import Params
from rotnet.rotation import InputView
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training import results
from rotnet.training.context import StageRun
from rotnet.training.tasks import JointRotationTask, MultitaskRotationTask, Task

SPEC = BY_NAME["supervised_rot"]


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    cfg = params.recipe("supervised_rot", backbone)
    with StageRun(params, SPEC.name, dataset, backbone) as stage:
        env, outputs = stage.env, stage.outputs
        for _ in stage.each_seed():
            classes = env.prepared.num_classes
            angles = list(cfg.rotations)
            task: Task
            if cfg.mode == "multitask":
                model = env.new_backbone(classes)
                task = MultitaskRotationTask(model, classes, angles, cfg.weight)
                head_outputs = classes
            else:
                model = env.new_backbone(classes * len(angles))
                task = JointRotationTask(model, classes, angles)
                head_outputs = classes * len(angles)
            result = stage.fit(task, cfg)
            out = result.outputs["supervised"]
            view = InputView.of(angles)  # a set with a 45: masked, turned by the shared offset
            fields = {} if view.identity else view.record()  # for predict (rotnet.models.saved.input_view)
            outputs.save_model(
                model, head_outputs, best_epoch=out.best_epoch, mode=cfg.mode, rotations=angles, **fields
            )
            extra: dict[str, Any] = {}
            if cfg.mode == "multitask":  # the rotation head at the selected epoch
                extra["rotation_test_acc"] = round(result.outputs["rotation"].test_acc, 2)
            else:  # the upright copy alone, without the aggregation
                upright = result.outputs["upright"]
                extra.update(upright_val_acc=round(upright.val_acc, 2), upright_test_acc=round(upright.test_acc, 2))
            metrics, record = results.classifier_results(
                env,
                out,
                result,
                cfg,
                mode=cfg.mode,
                weight=cfg.weight if cfg.mode == "multitask" else None,
                rotations=angles,
            )
            metrics.update(extra)
            record.update(extra)
            stage.write_results(metrics, record)
    return stage.metrics


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
