"""supervised@<dataset>-<backbone>: train a backbone on the labels (the baseline).

Reads data/prepared/<dataset>. Writes models/<dataset>/<backbone>/supervised/{model.pt,
run.json}, metrics/runs/<dataset>/<backbone>/supervised{.json,_history.csv} and
logs/<dataset>/<backbone>/supervised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet.params import Params
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training import results
from rotnet.training.context import StageRun
from rotnet.training.tasks import SupervisedTask

SPEC = BY_NAME["supervised"]


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    cfg = params.recipe("supervised", backbone)
    with StageRun(params, SPEC.name, dataset, backbone) as stage:
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


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
