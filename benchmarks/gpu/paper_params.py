"""The paper run's params: the committed params.yaml with a profile merged in, cut to
NIN-4 on CIFAR-10 (benchmarks/paper_run.py)."""

from __future__ import annotations

from typing import Any

from benchmarks.gpu.common import ROOT, scale_paper_epochs

DATASET, BACKBONE = "cifar10", "nin"


def paper_params(options: dict[str, Any], device: str, mode: str):
    """The committed params.yaml with the profile merged in (as `dvc exp run -S` sets it:
    the GPU box has no dvc), cut to NIN-4 on CIFAR-10 with one seed, resumable every epoch.
    ``options["epochs"]`` (tests) replaces 200/100 with the milestones scaled."""
    import yaml

    from rotnet.params import parse_params
    from rotnet.profiles import load_profile, merge, profile_path

    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    if options["profile"]:
        path = profile_path(options["profile"])
        path = path if path.is_absolute() else ROOT / path
        raw = merge(raw, load_profile(str(path)), str(path))
    cut: dict[str, Any] = {
        "study.datasets": [DATASET],
        "study.backbones": [BACKBONE],
        "study.baselines": [],
        "study.seeds": [0],
        "runtime.device": device,
        "runtime.resume": True,
        "runtime.checkpoint_every": 1,
        f"datasets.{DATASET}.val_size": options["val_size"],
        f"datasets.{DATASET}.train_per_class": options["train_per_class"],
    }
    if options["data"]:
        cut[f"datasets.{DATASET}.source"] = "imagefolder"  # the run's work/data/raw/cifar10 links to it
    if options["width"]:
        cut[f"backbones.{BACKBONE}.width"] = options["width"]
    if mode == "paper-control":
        cut["control.inits"] = ["random"]
    raw = merge(raw, cut, "paper run")
    if options["epochs"]:
        scale_paper_epochs(raw, *options["epochs"])
    overrides = {}
    for item in options["set"]:
        key, sep, value = item.partition("=")
        if not sep:
            from rotnet.errors import RotnetError

            raise RotnetError(f"--set {item}: give KEY=VALUE, e.g. --set runtime.compile=true")
        overrides[key] = yaml.safe_load(value)
    raw = merge(raw, overrides, "--set")
    return parse_params(raw, "params.yaml (paper run)")
