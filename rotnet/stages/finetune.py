"""finetune@<dataset>-<backbone>-<head>: start from the RotNet weights, put a fresh head
on top and train them on the labels; one stage instance per head of ``finetune.heads``.

``finetune.network: paper`` is the paper's setting (its 92.17 with the conv head, 91.73
with the non-linear one): the RotNet up to the map the conv head reads (block 2 for NIN)
plus the fresh head there, every weight trained. ``whole`` trains the whole network under
a fresh linear classifier (heads: [linear]), as most SSL libraries fine-tune. The recipe
(the ``finetune`` section) is this project's own: no official config exists for fine-tuning.

Reads data/prepared/<dataset> and models/<dataset>/<backbone>/pretrain/model.pt. Writes
models/<dataset>/<backbone>/finetune/<head>/{model.pt,run.json},
metrics/runs/<dataset>/<backbone>/finetune/<head>{.json,_history.csv} and logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet.params import Params
from rotnet.probing.finetuning import finetune_heads, finetune_pretrained
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME

SPEC = BY_NAME["finetune"]


def run(params: Params, dataset: str, backbone: str, head: str | None = None) -> dict[str, dict[str, Any]]:
    """Fine-tune with one head of finetune.heads (dvc.yaml runs an instance per head), or
    with each in turn when ``head`` is None; returns each head's metrics."""
    cfg, heads = finetune_heads(params, backbone, head)
    return {
        h: finetune_pretrained(
            params,
            cfg,
            SPEC.name,
            dataset,
            backbone,
            h,
            upstream="pretrain",
            init="rotnet-pretrain",
            variant=h,
            desc=f"finetune {h}@{backbone}",
        )
        for h in heads
    }


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
