"""ssl_pretrain@<dataset>-<backbone>-<method>: SimCLR or BYOL pretraining (study.methods) of a backbone,
beside RotNet's (the pretrain stage), on the same data and backbone.

The recipe is the params section of the method's name (``simclr``, ``byol``; lightly's CIFAR-10
benchmark, rotnet.methods.recipes), with ``backbones.<backbone>.recipe.<method>`` merged in.
Each epoch ends with lightly's kNN monitor on validation (k = 200, T = 0.1 on the pooled last
map); the weights kept are the best validation epoch's (``checkpoint: last``: the final one's)
and the test split is looked at once, with the same kNN at those weights: lightly's figure
with the epoch chosen on validation rather than on test (docs/methods.md).

Reads data/prepared/<dataset>. Writes models/<dataset>/<backbone>/ssl_pretrain/<method>/{model.pt,
run.json} (the backbone alone: the probes read it as they read the RotNet),
metrics/runs/<dataset>/<backbone>/ssl_pretrain/<method>{.json,_history.csv} and logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet.errors import RotnetError
from rotnet.methods.tasks import KNN, method_task
from rotnet.params import Params
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training import results
from rotnet.training.context import StageRun

SPEC = BY_NAME["ssl_pretrain"]


def run(params: Params, dataset: str, backbone: str, method: str) -> dict[str, Any]:
    if method not in params.study.methods:
        raise RotnetError(f"method '{method}' is not in study.methods {params.study.methods}; add it there")
    cfg = params.recipe(method, backbone)
    with StageRun(params, SPEC.name, dataset, backbone, variant=method) as stage:
        env, outputs = stage.env, stage.outputs
        classes = len(env.prepared.class_names)
        for _ in stage.each_seed():
            model = env.new_backbone(classes)  # its classifier is unused: the probes bring their heads
            task = method_task(method, model, cfg)
            result = stage.fit(task, cfg, keep=cfg.checkpoint, desc=f"{method}@{backbone}")
            out = result.outputs[KNN]
            outputs.save_model(model, classes, best_epoch=out.best_epoch, task=method)
            metrics, record = results.output_results(
                env,
                out,
                result,
                cfg,
                prefix="knn_",
                method=method,
                checkpoint=cfg.checkpoint,
                knn={"k": cfg.knn_k, "temperature": cfg.knn_temperature, "features": "pooled last map"},
            )
            stage.write_results(metrics, record)
    return stage.metrics


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
