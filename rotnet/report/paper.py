"""Published figures the report compares against (top-1 %, official CIFAR-10 test set).

Source: Gidaris, Singh, Komodakis, "Unsupervised Representation Learning by Predicting
Image Rotations", ICLR 2018 (Tables 1 and 2 and the CIFAR-10 comparison table), except
the few-labels figures (SEMISUP_*): the paper shows figure 5b as a plot only, and those
are a later re-run's table of it (../shared/REFERENCE.md). The report labels each set
with its source (PAPER_DATA, SEMISUP_SOURCE) and never calls the re-run's the paper's.
"""

from __future__ import annotations

PAPER_DATA = "CIFAR-10 (official), paper"
PAPER_DATASET = "cifar10"  # the only dataset of the study the paper measured on

# Non-linear head on each frozen block of RotNet NIN, by number of blocks.
NIN_PROBES: dict[int, dict[str, float]] = {
    3: {"block1": 85.45, "block2": 88.26, "block3": 62.09},
    4: {"block1": 85.07, "block2": 89.06, "block3": 86.21, "block4": 61.73},
    5: {"block1": 85.04, "block2": 89.76, "block3": 86.82, "block4": 74.50, "block5": 50.37},
}

NIN_SUPERVISED = 92.80

COMPARISON: dict[str, float] = {
    "supervised NIN": 92.80,
    "random init + conv head": 72.50,
    "RotNet + non-linear head": 89.06,
    "RotNet + conv head": 91.16,
    "RotNet + non-linear, fine-tuned": 91.73,
    "RotNet + conv, fine-tuned": 92.17,
}
# The fine-tuned figures by head (finetune.heads). The paper gives its fine-tuning in the
# text only (no official config exists for it): our recipe is the project's own.
FINETUNED: dict[str, str] = {"conv": "RotNet + conv, fine-tuned", "nonlinear": "RotNet + non-linear, fine-tuned"}


# Table 2, number of rotations: 4-block RotNet NIN, non-linear head on block 2, by the
# set of angles (degrees) it was pretrained on.
ROTATION_SETS: dict[tuple[int, ...], float] = {
    (0, 90, 180, 270): 89.06,
    tuple(range(0, 360, 45)): 88.51,
    (0, 180): 87.46,
    (90, 270): 85.52,
}
DEFAULT_ROTATIONS: tuple[int, ...] = (0, 90, 180, 270)  # also rotnet.rotation.ANGLES; kept torch-free here
# A set with an angle that is not a right angle (the eight): the paper's row, our construction.
CONSTRUCTED_SET_NOTE = (
    "this project's construction: the official code refuses angles that are not multiples of 90; every copy "
    "is turned by its angle + 22.5 degrees and, unless pretrain.mask is none, masked to the inscribed circle "
    "(rotnet/rotation.py)"
)


def rotation_set_figure(rotations: tuple[int, ...] | list[int]) -> float | None:
    """The paper's block-2 non-linear figure (4-block NIN) for this rotation set, if it has one."""
    return ROTATION_SETS.get(tuple(rotations))


def nin_probe_figure(blocks: int, layer: str) -> float | None:
    """The paper's non-linear-head accuracy for this NIN depth and block, if it has one."""
    return NIN_PROBES.get(blocks, {}).get(layer)


# Semi-supervised: the paper's figure 5b experiment, figures from a later re-run of it
# (the paper prints no table): test accuracy against labelled images per class, the conv
# head trained on the FROZEN RotNet's block 2 vs a 3-block NIN trained from scratch.
SEMISUP_SOURCE = "fig. 5b re-run"  # how columns, legends and text name these figures
SEMISUP_SOURCE_LONG = "a later re-run of the paper's figure 5b (the paper prints no table of it)"
SEMISUP_LABELS = [20, 100, 400, 1000, 5000]
SEMISUP_ROTNET = [64.63, 75.28, 82.84, 86.43, 91.95]
SEMISUP_SCRATCH = [33.66, 47.26, 74.19, 83.47, 93.07]
