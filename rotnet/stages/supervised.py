"""supervised@<dataset>-<backbone>: train a backbone on the labels (the baseline;
rotnet.training.on_labels).

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
from rotnet.training.on_labels import train_on_labels

SPEC = BY_NAME["supervised"]


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    return train_on_labels(params, dataset, backbone)


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
