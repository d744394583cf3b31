"""ssl_finetune@<dataset>-<backbone>-<method>-<head>: the finetune stage on the backbone of a SimCLR
or BYOL pretraining (the ssl_pretrain stage), exactly as it runs on the RotNet: the same recipe
(``finetune``, with the backbone's recipe merged in), the same network (``finetune.network``) and
the same heads (``finetune.heads``), for each method of ``finetune.methods``.

Reads data/prepared/<dataset> and models/<dataset>/<backbone>/ssl_pretrain/<method>/model.pt. Writes
models/<dataset>/<backbone>/ssl_finetune/<method>-<head>/{model.pt,run.json},
metrics/runs/<dataset>/<backbone>/ssl_finetune/<method>-<head>{.json,_history.csv} and logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.params import Params
from rotnet.probing.finetuning import finetune_heads, finetune_pretrained
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME

SPEC = BY_NAME["ssl_finetune"]


def run(params: Params, dataset: str, backbone: str, method: str, head: str | None = None) -> dict[str, dict[str, Any]]:
    """Fine-tune the ``method`` backbone with one head of finetune.heads (dvc.yaml runs an
    instance per method and head), or with each in turn when ``head`` is None; returns each
    head's metrics."""
    if method not in params.finetune.methods:
        raise RotnetError(
            f"--method {method} is not one of finetune.methods {params.finetune.methods}; add it there "
            "(and to study.methods) or pick one of them"
        )
    cfg, heads = finetune_heads(params, backbone, head)
    return {
        h: finetune_pretrained(
            params,
            cfg,
            SPEC.name,
            dataset,
            backbone,
            h,
            upstream=paths.variant_kind("ssl_pretrain", method),
            init=f"{method}-pretrain",
            variant=f"{method}-{h}",
            desc=f"ssl_finetune {method}-{h}@{backbone}",
            method=method,
        )
        for h in heads
    }


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
