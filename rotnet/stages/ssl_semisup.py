"""ssl_semisup@<dataset>-<backbone>-<method>: the semisup stage's pretrained arms on the backbone of a
SimCLR or BYOL pretraining (the ssl_pretrain stage), exactly as they run on the RotNet: the same
labelled subsets, recipe (``semisup.rotnet``), conv-head map and choice of epochs on K validation
images per class, for each method of ``semisup.methods``. The arms keep their params names:
``rotnet`` is the conv head on the frozen pretrained map, ``rotnet_finetune`` the same with the
blocks up to it fine-tuned; the record's ``method`` says whose backbone it is. The scratch arm
has no pretraining: the semisup stage runs it once for every method.

Reads data/prepared/<dataset> and models/<dataset>/<backbone>/ssl_pretrain/<method>/model.pt. Writes
models/<dataset>/<backbone>/ssl_semisup/<method>/run.json and
metrics/runs/<dataset>/<backbone>/ssl_semisup/<method>.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.params import Params
from rotnet.probing.semisup import semisup_pretrained
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME

SPEC = BY_NAME["ssl_semisup"]


def run(params: Params, dataset: str, backbone: str, method: str) -> dict[str, Any]:
    cfg = params.semisup
    if method not in cfg.methods:
        raise RotnetError(
            f"--method {method} is not one of semisup.methods {cfg.methods}; add it there "
            "(and to study.methods) or pick one of them"
        )
    if backbone not in params.study.backbones:
        raise RotnetError(f"semisup.backbones names '{backbone}', which study.backbones does not pretrain")
    arms = [arm for arm in cfg.arms if arm != "scratch"]
    if not arms:
        raise RotnetError(
            f"semisup.arms {cfg.arms} has no arm on a pretrained backbone for {method}; add rotnet (or "
            "rotnet_finetune) to semisup.arms, or set semisup.methods: []"
        )
    return semisup_pretrained(
        params,
        SPEC.name,
        dataset,
        backbone,
        upstream=paths.variant_kind("ssl_pretrain", method),
        kind="ssl_pretrain",
        arms=arms,
        scratch_net=None,
        variant=method,
        method=method,
    )


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
