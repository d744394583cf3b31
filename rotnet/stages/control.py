"""control@<dataset>-<backbone>: the controls the paper has, probed exactly as the probe
stage probes the RotNet (same heads, recipe and kNN, one frozen pass per batch):

- ``random``: the backbone randomly initialised (seeded by ``seed``) and frozen; the
  paper's "random init + conv head" is 72.50 on CIFAR-10;
- ``supervised``: the supervised stage's backbone, frozen: how far labels take each map.

Reads data/prepared/<dataset> and models/<dataset>/<backbone>/supervised/model.pt. Writes
models/<dataset>/<backbone>/control/run.json and metrics/runs/<dataset>/<backbone>/control.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet.models.base import Backbone
from rotnet.models.saved import build_model, file_sha256
from rotnet.params import Params
from rotnet.progress import log
from rotnet.stages.entry import stage_main
from rotnet.stages.probe import probe_frozen
from rotnet.stages.table import BY_NAME
from rotnet.training.context import StageRun

SPEC = BY_NAME["control"]


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    cfg = params.recipe("probe", backbone)
    with StageRun(params, SPEC.name, dataset, backbone) as stage:

        def frozen(init: str) -> tuple[Backbone, dict[str, Any]]:
            if init == "random":
                stage.reseed()  # the same random backbone on every rerun: the supervised model's start
                return stage.new_backbone(stage.prepared.num_classes), {}
            ckpt, supervised = stage.upstream_model("supervised")
            return build_model(ckpt), {"supervised": file_sha256(supervised)}

        for _ in stage.each_seed():
            metrics: dict[str, Any] = {}
            record: dict[str, Any] = {}
            for init in params.control.inits:
                model, source = frozen(init)
                stage.reseed()  # every control's heads start as the probe stage's do
                probes = probe_frozen(
                    stage, model, cfg, part=init, history=False, desc=f"control@{backbone}-{init}", init=init, **source
                )
                # Results to compare: the val-chosen best head's and kNN's accuracies per control (few
                # columns in `dvc exp show`); which map and head, and every layer's, are in the record.
                best, knn = probes.metrics["best"], probes.record["knn_best"]
                metrics[init] = {
                    "probe_val_acc": best["val_acc"],
                    "probe_test_acc": best["test_acc"],
                    "knn_val_acc": knn["val_acc"],
                    "knn_test_acc": knn["test_acc"],
                }
                record[init] = {**probes.record, "wall_time_s": round(probes.result.wall_time_s, 2)}
                log(f"control@{backbone} {init}: best {best['layer']}/{best['head']} test {best['test_acc']:.2f}%")
            stage.write_results(metrics, {**record, "inits": list(params.control.inits), **stage.run_details(cfg)})
    return stage.metrics


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
