"""baseline@<dataset>-<backbone>: a backbone of study.baselines trained on the labels only,
with the supervised stage's recipe (params.supervised). It gives reference rows that no
RotNet sits beside: the paper's supervised NIN (92.80) is a 3-block NIN (``nin3``), while
the supervised stage trains the RotNet's own 4-block architecture.

Reads data/prepared/<dataset>. Writes models/<dataset>/<backbone>/supervised/{model.pt,
run.json}, metrics/runs/<dataset>/<backbone>/supervised{.json,_history.csv} and
logs/<dataset>/<backbone>/supervised, as the supervised stage does for its backbones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet.errors import RotnetError
from rotnet.params import Params
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training.on_labels import train_on_labels

SPEC = BY_NAME["baseline"]


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    if backbone not in params.study.baselines:
        raise RotnetError(
            f"'{backbone}' is not in study.baselines ({params.study.baselines}); add it there, "
            "or train a study.backbones entry with the supervised stage"
        )
    return train_on_labels(params, dataset, backbone)


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
