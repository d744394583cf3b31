"""The table of stages: it drives the CLI, the stage scripts, the tests and the docs.

Adding a stage: a row here, a module ``rotnet/stages/<name>.py`` with ``run`` and
``main``, a script ``stages/<name>.py`` that calls ``main``, and its dvc.yaml entry
(tests check that all four agree).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageSpec:
    name: str
    help: str
    per_dataset: bool = True  # takes --dataset (a DVC matrix over study.datasets)
    per_backbone: bool = False  # takes --backbone
    per_head: bool = False  # takes --head (a DVC matrix over finetune.heads too)
    per_method: bool = False  # takes --method (a DVC matrix over study.methods too)
    distributed: bool = False  # may start itself under torchrun (distributed.* in params)

    @property
    def script(self) -> str:
        return f"stages/{self.name}.py"

    @property
    def module(self) -> str:
        return f"rotnet.stages.{self.name}"


STAGES: tuple[StageSpec, ...] = (
    StageSpec("prepare", "read a dataset's source (data/raw/<dataset>) and write data/prepared/<dataset>"),
    StageSpec("supervised", "train a backbone on the labels", per_backbone=True, distributed=True),
    StageSpec(
        "supervised_rot",
        "train a backbone on the labels with rotations as extra supervision (multitask or joint)",
        per_backbone=True,
        distributed=True,
    ),
    StageSpec(
        "baseline",
        "train a study.baselines backbone on the labels only (the paper's 3-block supervised NIN)",
        per_backbone=True,
        distributed=True,
    ),
    StageSpec("pretrain", "RotNet rotation pretraining of a backbone", per_backbone=True, distributed=True),
    StageSpec(
        "probe",
        "train heads on every frozen feature map of the pretrained backbone",
        per_backbone=True,
        distributed=True,
    ),
    StageSpec(
        "ssl_pretrain",
        "SimCLR or BYOL pretraining of a backbone (study.methods), beside RotNet's",
        per_backbone=True,
        per_method=True,
        distributed=True,
    ),
    StageSpec(
        "ssl_probe",
        "the probe's heads and kNN on the frozen backbone of a study.methods pretraining",
        per_backbone=True,
        per_method=True,
        distributed=True,
    ),
    StageSpec(
        "control",
        "the probe's heads and kNN on a random-init and on the supervised frozen backbone",
        per_backbone=True,
        distributed=True,
    ),
    StageSpec(
        "finetune",
        "train the RotNet with a fresh head on the labels (paper: blocks 1-2 + conv or non-linear head)",
        per_backbone=True,
        per_head=True,
        distributed=True,
    ),
    StageSpec(
        "ssl_finetune",
        "the finetune stage (fresh head, every weight trained) on the backbone of a finetune.methods pretraining",
        per_backbone=True,
        per_method=True,
        per_head=True,
        distributed=True,
    ),
    StageSpec(
        "small_input",
        "compare the ways a large-image backbone can see small images (accuracy, images/s)",
        distributed=True,
    ),
    StageSpec(
        "semisup",
        "accuracy vs labelled images per class: from scratch vs RotNet + conv head (paper fig. 5b)",
        per_backbone=True,
        distributed=True,
    ),
    StageSpec(
        "ssl_semisup",
        "the semisup stage's pretrained arms (conv head on the frozen or fine-tuned map) on a semisup.methods backbone",
        per_backbone=True,
        per_method=True,
        distributed=True,
    ),
    StageSpec(
        "robustness",
        "accuracy under CIFAR-10-C's corruptions (regenerated): supervised, supervised+rot and the RotNet probe",
        per_backbone=True,
    ),
    StageSpec("report", "aggregate all run records into metrics/report.{md,csv,html,png}", per_dataset=False),
)
BY_NAME: dict[str, StageSpec] = {s.name: s for s in STAGES}


def markdown_table() -> str:
    """The table as README shows it (`rotnet stages` prints it; a test keeps README in step)."""
    lines = ["| stage | one run per | code | what it does |", "| --- | --- | --- | --- |"]
    for s in STAGES:
        dims = (
            ("dataset", s.per_dataset),
            ("backbone", s.per_backbone),
            ("method", s.per_method),
            ("head", s.per_head),
        )
        per = " x ".join(k for k, on in dims if on) or "study"
        lines.append(f"| `{s.name}` | {per} | `rotnet/stages/{s.name}.py` | {s.help} |")
    return "\n".join(lines)
