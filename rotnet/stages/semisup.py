"""semisup@<dataset>-<backbone>: the paper's figure 5b as the official configs run it:
test accuracy against the number of labelled images per class, per arm (params.semisup):

- ``scratch``: a network trained from scratch on the labels (a 3-block NIN for NIN);
- ``rotnet``: the paper's conv head trained on the frozen RotNet's map (block 2 for NIN),
  the backbone in eval mode with no gradients, as the probe stage trains its heads;
- ``rotnet_finetune`` (optional, not the paper's): the same, with the RotNet blocks
  up to that map fine-tuned too.

The labelled images are the first K training images of each class in the source's order:
the official subsets where that order is the official one (the CIFAR-10 archive, the
official Fashion-MNIST files) and ``datasets.<name>.keep_first_per_class`` kept them out of
the validation carve; the run record says which (``subset``). A K that a class cannot give
is refused. Each epoch draws ``epoch_size`` images by cycling the labelled ones (the
official 50,000 samples, whatever K is). Epochs are chosen on a validation set of K images
per class (the first K of each class of the validation split): choosing on thousands of
labelled validation images would leak labels an arm with K per class does not have. Each
(K, arm) pair is one resumable fit. With several training seeds, each (K, arm) gets one epoch for
all seeds, the best of the mean validation curve (``choose_epochs``), and each seed's test
accuracy at that epoch: every epoch's test accuracy is recorded then, and only read at the
epoch chosen on validation.

Reads data/prepared/<dataset> and models/<dataset>/<backbone>/pretrain/model.pt. Writes
models/<dataset>/<backbone>/semisup/run.json and metrics/runs/<dataset>/<backbone>/semisup.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet.errors import RotnetError
from rotnet.params import Params
from rotnet.probing.semisup import semisup_pretrained
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME

SPEC = BY_NAME["semisup"]


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    cfg = params.semisup
    if backbone not in params.study.backbones:
        raise RotnetError(f"semisup.backbones names '{backbone}', which study.backbones does not pretrain")
    return semisup_pretrained(
        params,
        SPEC.name,
        dataset,
        backbone,
        upstream="pretrain",
        kind="pretrain",
        arms=list(cfg.arms),
        scratch_net=cfg.scratch_backbone(backbone),
    )


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
