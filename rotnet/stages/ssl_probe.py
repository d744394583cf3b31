"""ssl_probe@<dataset>-<backbone>-<method>: the probe stage's heads and kNN on the frozen
backbone of a SimCLR or BYOL pretraining (the ssl_pretrain stage), exactly as the probe stage runs
them on the RotNet: the same recipe (``probe``, with the backbone's recipe merged in), the same
choices on validation, the same t-SNE of the test features at the best map.

Reads data/prepared/<dataset> and models/<dataset>/<backbone>/ssl_pretrain/<method>/model.pt. Writes
models/<dataset>/<backbone>/ssl_probe/<method>/{heads.pt,run.json,tsne.json},
metrics/runs/<dataset>/<backbone>/ssl_probe/<method>{.json,_history.csv} and logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet import paths
from rotnet.params import Params
from rotnet.probing.pretrained import probe_pretrained
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME

SPEC = BY_NAME["ssl_probe"]


def run(params: Params, dataset: str, backbone: str, method: str) -> dict[str, Any]:
    upstream = paths.variant_kind("ssl_pretrain", method)
    return probe_pretrained(
        params, SPEC.name, dataset, backbone, upstream=upstream, kind="ssl_pretrain", variant=method
    )


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
