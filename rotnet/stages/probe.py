"""probe@<dataset>-<backbone>: train heads on every frozen feature map of the RotNet.

Every head kind in probe.heads (the paper's non-linear head, a linear head, and the
paper's conv head on probe.conv_layers) on every named map of the pretrained backbone,
all fed by one frozen backbone pass per batch. Then the weighted kNN probe
(rotnet.probing.knn) on every pooled map, which needs no training. Every choice is made on
validation accuracy, once for all training seeds (``choose_probes``): the best layer and
head, and per map the kNN's k and temperature. The figures reported are each seed's at that
one choice.

A RotNet that saw its inputs otherwise than as they are (its model file records a mask or
a shared resampling offset: ``pretrain.mask``, the 45-degree set; rotnet.rotation) is
probed twice, each time with every head and the kNN: on the images as they are (the
headline figures, at the usual keys: what every other row's probe reads, and the paper's
protocol), and on the images as the RotNet saw its label-0 copies (``rotnet_view``: masked,
turned by the offset), so that a masked RotNet is not judged only on inputs it never saw.
The saved heads are the headline ones; each probing makes its own choices over seeds.

Then a t-SNE of the test features at the best map (rotnet.probing.pretrained, as ssl_probe).

Reads data/prepared/<dataset> and models/<dataset>/<backbone>/pretrain/model.pt. Writes
models/<dataset>/<backbone>/probe/{heads.pt,run.json,tsne.json},
metrics/runs/<dataset>/<backbone>/probe{.json,_history.csv} and logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet.params import Params
from rotnet.probing.pretrained import probe_pretrained
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME

SPEC = BY_NAME["probe"]


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    return probe_pretrained(params, SPEC.name, dataset, backbone, upstream="pretrain", kind="pretrain")


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
