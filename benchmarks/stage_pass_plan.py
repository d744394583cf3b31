"""make stage-pass's plan: the stage instances of the DAG in its order, what each reads, and
the params they run with (the quick profile, one epoch; --tiny: the CPU cut; --set)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


# Stage -> the stages whose outputs it reads (dvc.yaml's deps; tests/benchmarks/test_stage_pass.py
# checks this against dvc.yaml). The report reads every stage's.
NEEDS: dict[str, tuple[str, ...]] = {
    "prepare": (),
    "supervised": ("prepare",),
    "supervised_rot": ("prepare",),
    "baseline": ("prepare",),
    "pretrain": ("prepare",),
    "probe": ("prepare", "pretrain"),
    "ssl_pretrain": ("prepare",),
    "ssl_probe": ("prepare", "ssl_pretrain"),
    "ssl_finetune": ("prepare", "ssl_pretrain"),
    "ssl_semisup": ("prepare", "ssl_pretrain"),
    "control": ("prepare", "supervised"),
    "finetune": ("prepare", "pretrain"),
    "small_input": ("prepare",),
    "semisup": ("prepare", "pretrain"),
    "robustness": ("prepare", "supervised", "supervised_rot", "pretrain", "probe"),
    "report": ("*",),
}

# One short epoch for every training stage, on top of profiles/quick.yaml.
ONE_EPOCH: dict[str, Any] = {
    **{f"{s}.epochs": 1 for s in ("supervised", "supervised_rot", "pretrain", "probe", "finetune", "small_input")},
    **{f"{s}.schedule.milestones": [] for s in ("supervised", "supervised_rot", "pretrain", "probe", "finetune")},
    "probe.head_milestones.nonlinear": [],
    **{f"{m}.epochs": 1 for m in ("simclr", "byol")},
    **{f"semisup.{arm}.epochs": 1 for arm in ("scratch", "rotnet")},
    **{f"semisup.{arm}.schedule.milestones": [] for arm in ("scratch", "rotnet")},
}

# Options added to these backbones' params.yaml entries by the CPU cut (an entry is replaced
# whole: params.yaml lists only the options it sets).
TINY_BACKBONES: dict[str, dict[str, Any]] = {
    "efficientnet_b0": {"width_multiplier": 0.25},
    "efficientnet_b0_upsample": {"width_multiplier": 0.25, "upsample_size": 64},
}

# The CPU cut (--tiny): tiny widths, a handful of images, one corruption; seconds per stage.
TINY: dict[str, Any] = {
    "datasets.cifar10.train_per_class": 12,
    "datasets.cifar10.val_size": 20,
    "datasets.cifar10.keep_first_per_class": 2,
    "backbones.nin.width": 8,
    "backbones.nin3.width": 8,
    "runtime.eval_batch_size": 256,
    "runtime.threads": 1,  # tiny tensors: a second thread only waits (and on a shared CPU costs 5x)
    **{f"{s}.batch_size": 16 for s in ("supervised", "supervised_rot", "pretrain", "probe", "finetune", "small_input")},
    "probe.hidden": 8,
    "finetune.hidden": 8,
    **{f"{m}.{k}": v for m in ("simclr", "byol") for k, v in (("batch_size", 16), ("epoch_size", None))},
    "probe.knn_k": [5],
    "probe.knn_temperature": [0.1],
    "robustness.corruptions": ["gaussian_noise"],
    "robustness.severities": [1],
    "small_input.train_images": 20,
    "semisup.labels_per_class": [2],
    **{f"semisup.{arm}.{k}": v for arm in ("scratch", "rotnet") for k, v in (("batch_size", 8), ("epoch_size", 16))},
}


@dataclass(frozen=True)
class Instance:
    """One stage instance, as DVC names it (``finetune@cifar10-nin-conv``)."""

    stage: str
    dataset: str | None = None
    backbone: str | None = None
    head: str | None = None
    method: str | None = None  # a stage run per study.methods entry (ssl_*)

    @property
    def name(self) -> str:
        where = "-".join(x for x in (self.dataset, self.backbone, self.method, self.head) if x)
        return f"{self.stage}@{where}" if where else self.stage

    def kwargs(self) -> dict[str, str]:
        """The keyword arguments of the stage module's ``run``."""
        pairs = (("dataset", self.dataset), ("backbone", self.backbone), ("method", self.method), ("head", self.head))
        return {k: v for k, v in pairs if v}

    def argv(self) -> list[str]:
        """The same, as ``stages/<name>.py`` takes them."""
        return [a for k, v in self.kwargs().items() for a in (f"--{k}", v)]


def instances(params: Any) -> list[Instance]:
    """Every stage instance of the DAG that ``params`` make, in the stage table's order
    (prerequisites first), as dvc.yaml's matrices expand them."""
    from rotnet.stages.table import STAGES

    backbones = {
        "baseline": params.study.baselines,
        "semisup": params.semisup.backbones,
        "ssl_semisup": params.semisup.backbones,
    }
    methods = {"ssl_finetune": params.finetune.methods, "ssl_semisup": params.semisup.methods}
    out: list[Instance] = []
    for spec in STAGES:
        for dataset in params.study.datasets if spec.per_dataset else [None]:
            for backbone in backbones.get(spec.name, params.study.backbones) if spec.per_backbone else [None]:
                for method in methods.get(spec.name, params.study.methods) if spec.per_method else [None]:
                    for head in params.finetune.heads if spec.per_head else [None]:
                        out.append(Instance(spec.name, dataset, backbone, head, method))
    return out


def prerequisites(inst: Instance, everything: Sequence[Instance]) -> list[Instance]:
    """The instances whose outputs ``inst`` reads: the needed stages' instances of its
    dataset (and of its backbone, for a stage run per backbone)."""
    needs = NEEDS[inst.stage]
    if needs == ("*",):
        return [i for i in everything if i != inst]
    out = []
    for other in everything:
        if other.stage not in needs or (inst.dataset and other.dataset != inst.dataset):
            continue
        if other.backbone and inst.backbone and other.backbone != inst.backbone:
            continue
        if other.method and inst.method and other.method != inst.method:
            continue
        out.append(other)
    return out


def pass_overrides(device: str, tiny: bool = False) -> dict[str, Any]:
    """The dotted overrides on params.yaml: the quick profile, one epoch, NIN on CIFAR-10 from
    an image folder (the work folder's data/raw/cifar10), fresh runs on ``device``; with
    ``tiny``, the CPU cut too."""
    from rotnet.profiles import load_profile

    study = {"study.datasets": ["cifar10"], "study.backbones": ["nin"], "study.baselines": ["nin3"]}
    where = {"datasets.cifar10.source": "imagefolder"}
    runtime = {"runtime.device": device, "runtime.resume": False, "study.seeds": [0]}
    quick = load_profile(str(ROOT / "profiles" / "quick.yaml"))
    out = {**quick, **ONE_EPOCH, **study, **where, **runtime}
    if importlib.util.find_spec("sklearn") is None:  # the GPU box has none: the probes draw no t-SNE there
        out["probe.tsne_images"] = 0
    if tiny:
        entries = _params_yaml()["backbones"]
        out.update(TINY)
        out.update({f"backbones.{b}": {**entries[b], **opts} for b, opts in TINY_BACKBONES.items()})
    return out


def _params_yaml() -> dict[str, Any]:
    import yaml

    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def build_params(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """params.yaml with ``overrides`` set, as ``dvc exp run -S`` would (a typo is an error)."""
    from rotnet.profiles import merge

    return merge(_params_yaml(), overrides, "stage-pass overrides")


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``--set key=value`` pairs, each value read as YAML (``[1, 2]``, ``true``, ``0.5``)."""
    import yaml

    from rotnet.errors import RotnetError

    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise RotnetError(
                f"--set {item!r}: give a dotted params key and a value, e.g. --set backbones.nin.width=16"
            )
        out[key] = yaml.safe_load(value)
    return out
