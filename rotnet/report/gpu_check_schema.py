"""The `make gpu-check` result JSON: one schema for its writer (benchmarks/gpu_check.py) and
its reader (the report's GPU-check section).

The GPU box runs the writer without installing the project, so this module needs only the
standard library. Each part is a TypedDict; ``problems`` checks a result against them: a
required key missing, a key the schema does not name (a renamed one), a value of another
type. Keys added after the first committed results are optional, so those still read.
"""

from __future__ import annotations

import types
import typing
from typing import Any, TypedDict, Union

KIND = "rotnet gpu-check"
VERSION = 1


class Phase(TypedDict):
    status: str
    seconds: float


class Options(TypedDict):
    batch: int
    steps: int
    compile: str
    width: int | None
    train_per_class: int | None
    workers: int
    epochs: list[int] | None


class CurrentOptions(Options, total=False):  # added with the cost probe
    cost_backbones: list[str]
    cost_steps: int
    cost_width: int | None
    cost_tasks: list[str]  # added with SimCLR and BYOL
    equal_cost_steps: int


class ThroughputFigures(TypedDict, total=False):
    """One workload's row of the table: source images/s per side, their ratios."""

    plain: float
    engine: float
    model_only: float
    engine_eager: float
    engine_over_plain: float
    engine_over_model: float
    plain_over_model: float
    ceiling_broken: bool


class _ThroughputRow(TypedDict):
    workload: str
    side: str
    compile: bool


class ThroughputRow(_ThroughputRow, total=False):
    """One measurement as the child wrote it: its figures, or why it has none."""

    images_per_s: float
    samples_per_s: float
    repeats_images_per_s: list[float]
    steps: int  # steps per timed repeat (added with the equal-cost workloads, which run fewer)
    seconds: float
    skipped: str
    error: str


class _Throughput(TypedDict):
    unit: str
    table: dict[str, ThroughputFigures]


class Throughput(_Throughput, total=False):  # set once the throughput part has run
    batch: int
    steps: int
    repeats: int
    rows: list[ThroughputRow]


class Bar(TypedDict):
    """The engine against 200 NIN pretraining epochs in 5 minutes."""

    samples_per_s: int
    engine_samples_per_s: int
    fraction: float
    nin_200_epochs_min: float
    note: str


class CostEntry(TypedDict, total=False):
    """One backbone and task of the cost probe (benchmarks/costs.py), or why it has no figures."""

    batch: int
    samples_per_step: int
    micro_batch: int | None
    images_per_s: float
    samples_per_s: float
    seconds: float
    peak_gib: float | None
    peak_of: str
    skipped: str
    error: str


class CostRow(CostEntry, total=False):
    backbone: str
    task: str


class _StageHours(TypedDict):
    supervised: float
    pretrain: float
    total: float


class StageHours(_StageHours, total=False):  # added with SimCLR and BYOL: where measured
    simclr: float
    byol: float


class BackboneHours(TypedDict):
    epochs: dict[str, int]
    datasets: dict[str, StageHours]
    total: float


class _StudyGpuHours(TypedDict):
    per_backbone: dict[str, BackboneHours]
    total: float
    unmeasured: list[str]
    train_images: dict[str, int | None]
    note: str


class StudyGpuHours(_StudyGpuHours, total=False):
    methods_unmeasured: list[str]  # "<backbone> <method>" without a rate (added with SimCLR and BYOL)


class _Costs(TypedDict):
    unit: str
    steps: int
    status: str


class Costs(_Costs, total=False):  # set once the cost probe has run
    rows: list[CostRow]
    table: dict[str, dict[str, CostEntry]]
    study_gpu_hours: StudyGpuHours


class _StudyPlan(TypedDict):
    calibration: dict[str, float]
    calibration_s: float
    pretrain_epochs: int
    pretrain_milestones: list[int]
    probe_epochs: int
    probe_milestones: list[int]
    probe_head_milestones: dict[str, list[int]]
    nin: dict[str, Any]
    compile: bool


class StudyPlan(_StudyPlan, total=False):  # added with the params profiles
    profile: str
    pretrain_checkpoint: str


class StudyPretrain(TypedDict):
    seconds: float
    rotation_val_acc: float
    rotation_test_acc: float
    best_epoch: int | None
    images_per_s: float


class StudyProbe(TypedDict):
    seconds: float
    layers: dict[str, Any]  # the probe stage's metrics, as it writes them
    knn: dict[str, Any]
    best: dict[str, Any]
    images_per_s: float
    block2: dict[str, dict[str, Any] | None]  # head: its figures (test_acc, ...)
    paper_test_acc: dict[str, float]


class _Study(TypedDict):
    data: str
    status: str


class Study(_Study, total=False):  # each part as the study child finished it
    plan: StudyPlan
    pretrain: StudyPretrain
    probe: StudyProbe


class PreparedData(TypedDict):
    description: str
    counts: dict[str, int]
    checksum: Any


class _GpuCheckResult(TypedDict):
    kind: str
    schema: int
    date: str
    started: str
    device: str
    device_type: str
    torch: str
    cuda: str | None
    python: str
    cpus: int | None
    budget_s: float
    status: str
    elapsed_s: float
    options: CurrentOptions
    phases: dict[str, Phase]
    throughput: Throughput
    bar: Bar | None
    study: Study


class GpuCheckResult(_GpuCheckResult, total=False):
    costs: Costs  # absent from results before the cost probe
    data: PreparedData  # absent when prepare did not finish


def is_typed_dict(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__required_keys__")


def _check(value: Any, hint: Any, where: str, out: list[str]) -> None:
    if hint is Any:
        return
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) == 1:
            _check(value, kinds[0], where, out)
        return
    if is_typed_dict(hint):
        if not isinstance(value, dict):
            out.append(f"{where}: expected an object, got {type(value).__name__}")
            return
        hints = typing.get_type_hints(hint)
        out += [f"{where}.{k}: missing" for k in sorted(hint.__required_keys__ - set(value))]
        out += [f"{where}.{k}: not in the schema" for k in sorted(set(value) - set(hints))]
        for k, v in value.items():
            if k in hints:
                _check(v, hints[k], f"{where}.{k}", out)
        return
    if origin is dict:
        if not isinstance(value, dict):
            out.append(f"{where}: expected an object, got {type(value).__name__}")
            return
        for k, v in value.items():
            _check(v, args[1], f"{where}.{k}", out)
        return
    if origin is list:
        if not isinstance(value, list):
            out.append(f"{where}: expected a list, got {type(value).__name__}")
            return
        for i, v in enumerate(value):
            _check(v, args[0], f"{where}[{i}]", out)
        return
    wanted = (int, float) if hint is float else hint  # JSON writes 3.0 as 3 in places
    if not isinstance(value, wanted) or (hint in (int, float) and isinstance(value, bool)):
        out.append(f"{where}: expected {hint.__name__}, got {type(value).__name__}")


def problems(result: Any) -> list[str]:
    """What keeps ``result`` from being a gpu-check result of this schema; [] when none."""
    out: list[str] = []
    _check(result, GpuCheckResult, "result", out)
    return out
