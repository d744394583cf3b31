"""control@<dataset>-<backbone>: the controls the paper has, probed exactly as the probe
stage probes the RotNet (same heads, recipe and kNN, one frozen pass per batch):

- ``random``: the backbone randomly initialised (seeded by ``seed``) and frozen; the
  paper's "random init + conv head" is 72.50 on CIFAR-10;
- ``supervised``: the supervised stage's backbone, frozen: how far labels take each map.

As in the probe stage, each control's best head and kNN (k, T) are chosen once over the
training seeds, on mean validation accuracy (rotnet.probing.frozen.chosen_figures).

Reads data/prepared/<dataset> and models/<dataset>/<backbone>/supervised/model.pt. Writes
models/<dataset>/<backbone>/control/run.json and metrics/runs/<dataset>/<backbone>/control.json.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from rotnet.models.base import Backbone
from rotnet.models.saved import build_model, file_sha256
from rotnet.params import Params
from rotnet.probing.frozen import FrozenProbes, chosen_figures, probe_frozen
from rotnet.progress import log
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training import results
from rotnet.training.context import StageRun
from rotnet.training.seed_runs import SeedResults

SPEC = BY_NAME["control"]


def choose_controls(seeds: list[SeedResults]) -> None:
    """StageRun.each_seed's chooser: per control (``candidates``: init -> FrozenProbes), the
    best head and the kNN choices made once over all seeds, in every seed's figures."""
    inits = list(seeds[0].candidates)
    chosen = {init: chosen_figures([s.candidates[init] for s in seeds]) for init in inits}
    for i, s in enumerate(seeds):
        metrics: dict[str, Any] = {}
        record: dict[str, Any] = {}
        for init in inits:
            probe_metrics, probe_record = chosen[init][i]
            # Results to compare: the val-chosen best head's and kNN's accuracies per control (few
            # columns in `dvc exp show`); which map and head, and every layer's, are in the record.
            best, knn = probe_metrics["best"], probe_record["knn_best"]
            metrics[init] = {
                "probe_val_acc": best["val_acc"],
                "probe_test_acc": best["test_acc"],
                "knn_val_acc": knn["val_acc"],
                "knn_test_acc": knn["test_acc"],
            }
            record[init] = {**probe_record, "wall_time_s": round(s.candidates[init].result.wall_time_s, 2)}
        s.metrics, s.record = metrics, {**record, **s.record}
    for init in inits:
        best = chosen[init][0][0]["best"]
        tests = ", ".join(f"{m['best']['test_acc']:.2f}%" for m, _ in chosen[init])
        where = f"{best['layer']}/{best['head']}"
        log(f"control@{seeds[0].record['backbone']} {init}: best {where} on validation, test {tests}")


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    cfg = params.recipe("probe", backbone)
    with StageRun(params, SPEC.name, dataset, backbone) as stage:
        env = stage.env

        def frozen(init: str) -> tuple[Backbone, dict[str, Any]]:
            if init == "random":
                env.reseed()  # the same random backbone on every rerun: the supervised model's start
                return env.new_backbone(env.prepared.num_classes), {}
            ckpt, supervised = env.upstream_model("supervised")
            return build_model(ckpt), {"supervised": file_sha256(supervised)}

        for _ in stage.each_seed(choose_controls):
            probes: dict[str, FrozenProbes] = {}
            for init in params.control.inits:
                model, source = frozen(init)
                env.reseed()  # every control's heads start as the probe stage's do
                found = probe_frozen(
                    stage, model, cfg, part=init, history=False, desc=f"control@{backbone}-{init}", init=init, **source
                )
                probes[init] = dataclasses.replace(found, heads={})  # figures only: the heads are not kept
            details = {"inits": list(params.control.inits), **results.run_details(env, cfg)}
            stage.write_results({}, details, candidates=probes)
    return stage.metrics


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
