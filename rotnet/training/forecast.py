"""How long the whole study takes on this kind of device, from the committed cost measurements.

A training stage says so in one line before it trains, when the measurements put the study
at more than a day, and points to `make quick`: a 200-epoch study started on a laptop CPU
should say at once that it takes weeks, not after hours of progress lines. The figure is a
lower bound: supervised training and RotNet pretraining of each measured backbone, at the
committed images per second (`make gpu-check` on a GPU, `benchmarks/zoo_smoke.py` on the
CPU), every dataset taken at this stage's training-set size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from rotnet.params import Params

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
DAY_S = 24 * 3600
# gpu-check throughput workloads: (backbone, task) each measures.
GPU_WORKLOADS = {
    "nin-rotation": ("nin", "rotation"),
    "resnet18": ("resnet18", "supervised"),
    "resnet50": ("resnet50", "supervised"),
}
TASKS = {"supervised": "supervised", "pretrain": "rotation"}  # stage section: measured task


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def measured_rates(device: torch.device, results: Path = RESULTS) -> tuple[dict[tuple[str, str], float], str] | None:
    """Images/s per (backbone, task) measured on this kind of device, newest first, and what
    measured them; None when nothing committed was measured on one."""
    rates: dict[tuple[str, str], float] = {}
    sources: list[str] = []
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for path in sorted(results.glob("*.json"), reverse=True):
            data = _json(path)
            if not data or data.get("kind") != "rotnet gpu-check" or data.get("device") != name:
                continue
            for row in data.get("throughput", {}).get("rows", []):
                key = GPU_WORKLOADS.get(row.get("workload", ""))
                if key and row.get("side") == "engine" and "images_per_s" in row:
                    rates[key] = max(rates.get(key, 0.0), float(row["images_per_s"]))
            sources.append(f"make gpu-check on an {name}, {data.get('date')}")
    elif device.type == "cpu":
        for path in sorted((results / "zoo-smoke").glob("*.json"), reverse=True):
            data = _json(path)
            if not data or data.get("device") != "cpu":
                continue
            for row in data.get("rows", []):
                if "images_per_s" in row:
                    rates.setdefault((row["backbone"], row["task"]), float(row["images_per_s"]))
            sources.append(f"benchmarks/zoo_smoke.py on {data.get('cpus')} CPU cores, {data.get('date')}")
    return (rates, sources[0]) if rates else None


def study_seconds(params: Params, rates: dict[tuple[str, str], float], train_images: int) -> tuple[float, int, int]:
    """Seconds of the supervised and RotNet pretraining runs that ``rates`` covers, how many
    runs that is, and how many such runs the study has."""
    total, covered, runs = 0.0, 0, 0
    repeats = len(params.study.datasets) * len(params.study.seeds)
    for backbone in params.study.backbones:
        for section, task in TASKS.items():
            runs += repeats
            if (backbone, task) in rates:
                covered += repeats
                total += repeats * params.recipe(section, backbone).epochs * train_images / rates[(backbone, task)]
    return total, covered, runs


def forecast_line(params: Params, device: torch.device, train_images: int, results: Path = RESULTS) -> str | None:
    """The line a training stage prints when the study takes more than a day here; else None."""
    measured = measured_rates(device, results)
    if measured is None:
        return None
    rates, source = measured
    seconds, covered, runs = study_seconds(params, rates, train_images)
    if seconds <= DAY_S:
        return None
    return (
        f"note: this study takes at least {seconds / DAY_S:.1f} days on this device: {covered} of its {runs} "
        f"supervised and RotNet pretraining runs alone, at the rates {source} measured. "
        "`make quick` runs the whole DAG in minutes"
    )
