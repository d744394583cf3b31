"""make gpu-check on the CPU with a box of seconds: every part runs, the JSON holds what it
measured and reads back through the report's reader, a part that outruns the box is stopped
and what came before is kept.

One run serves every test of the first kind (a module fixture): each run costs four child
interpreters (the parent runs in the test's). It measures the NIN rotation workload only (the
ResNets and the methods are the same code with another entry of benchmarks/throughput.py's
WORKLOADS, and the ResNets take minutes on two CPU cores; a method's rows:
tests/benchmarks/gpu/test_throughput_phase.py), the cost probe's SimCLR beside supervised and
rotation (BYOL is the same code), and fixes the study's epochs (how epochs fill the box:
tests/benchmarks/gpu/test_study_phase.py), so that no part waits for the box to close; the box is generous, so
that a loaded machine does not stop a part either."""

from __future__ import annotations

import contextlib
import io
import json
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchmarks import gpu_check
from benchmarks.gpu.costs_phase import cost_params
from benchmarks.gpu.parent import FINAL_S
from rotnet.report import gpu_check_schema as schema
from rotnet.report.gpu_check import gpu_check_section, latest_result
from tests.benchmarks.images import image_folder

BOX_S = 240


@dataclass
class Run:
    rc: int
    stdout: str  # the parent's: its log and summary
    path: Path
    result: dict[str, Any]
    wall: float


def run_check(tmp: Path, *extra: str) -> Run:
    """`gpu_check.py ...` with its parent in this process (an interpreter start less; each
    part still runs in its own child process, through the script, as on the box)."""
    data = image_folder(tmp / "images")
    out = tmp / "results"
    argv = ["--device", "cpu", "--data", str(data), "--out", str(out), "--width", "8"]
    argv += ["--val-size", "30", "--batch", "2", "--steps", "1", "--repeats", "1", "--workers", "0", "--compile", "off"]
    argv += ["--calibration-steps", "1", "--min-measure-s", "0.5", *extra]
    printed = io.StringIO()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(printed):
        rc = gpu_check.main(argv)
    wall = time.monotonic() - t0
    files = list(out.glob("*.json"))
    assert len(files) == 1, printed.getvalue()[-3000:]
    assert files[0].name.endswith("-cpu-x86-64.json") or "cpu" in files[0].name
    return Run(rc, printed.getvalue(), files[0], json.loads(files[0].read_text()), wall)


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> Run:
    cost = ["--cost-backbones", "nin", "--cost-width", "8", "--cost-steps", "1", "--costs-share", "0.3"]
    cost += ["--cost-tasks", "supervised", "rotation", "simclr"]  # BYOL: the same code, another task
    return run_check(
        tmp_path_factory.mktemp("gpu-check"), "--budget-s", str(BOX_S), "--throughput-share", "0.4",
        "--workloads", "nin-rotation", "--epochs", "2", "1", *cost,
    )  # fmt: skip


def test_gpu_check_measures_everything_in_its_box(checked):
    res = checked.result
    assert checked.rc == 0, checked.stdout[-3000:]
    assert res["status"] == "complete", res["phases"]
    assert res["device_type"] == "cpu" and res["date"] and res["torch"]
    assert checked.wall < BOX_S + 15  # the box, plus interpreter start-up and the final write
    # 1. the throughput table: three sides, with the ratios
    table = res["throughput"]["table"]
    assert set(table) == {"nin-rotation"}  # a method's rows: tests/benchmarks/gpu/test_throughput_phase.py
    for row in table.values():
        assert {"plain", "engine", "model_only"} <= set(row)
        assert all(row[k] > 0 for k in ("plain", "engine", "model_only"))
        assert abs(row["engine_over_model"] - row["engine"] / row["model_only"]) < 0.01
    assert res["bar"]["engine_samples_per_s"] == round(4 * table["nin-rotation"]["engine"])
    # 2. the cost probe: NIN at the committed batch, both tasks, and the study's GPU-hours
    costs = res["costs"]
    assert costs["status"] == res["phases"]["costs"]["status"] == "complete"
    assert set(costs["table"]["nin"]) == {"supervised", "rotation", "simclr"}  # what --cost-tasks asked
    for task, per_image, batch in (("supervised", 1, 128), ("rotation", 4, 128), ("simclr", 2, 512)):
        row = costs["table"]["nin"][task]
        assert row["images_per_s"] > 0 and abs(row["samples_per_s"] - per_image * row["images_per_s"]) < 0.1
        assert row["batch"] == batch and row["samples_per_step"] == batch * per_image
        assert 1 <= row["micro_batch"] <= batch
        assert row["peak_gib"] is None and "not measured on the CPU" in row["peak_of"]
    assert costs["table"]["nin"]["simclr"]["micro_batch"] == 512  # a method's batch runs whole
    hours = costs["study_gpu_hours"]
    nin = hours["per_backbone"]["nin"]
    assert set(nin["datasets"]) == set(cost_params(None).study.datasets) and nin["total"] > 0
    assert all("simclr" in day and "byol" not in day for day in nin["datasets"].values())
    assert "--cost-width 8" in hours["note"] and hours["unmeasured"] == []
    assert hours["methods_unmeasured"] == ["nin byol"]  # not asked for: named, and left out of the totals
    # 3. the study: the epochs asked for, the paper's milestones scaled, pretraining, then the block-2 probes
    study = res["study"]
    assert study["data"].endswith("130 train / 30 val / 30 test")
    plan = study["plan"]
    assert (plan["pretrain_epochs"], plan["probe_epochs"]) == (2, 1) and plan["pretrain_milestones"] == [1]
    assert plan["calibration"] == {}  # fixed epochs: nothing to size
    assert plan["nin"] == {"blocks": 4, "width": 8, "init": "official"}  # profiles/paper.yaml, merged in Python
    assert plan["profile"] == "paper" and plan["pretrain_checkpoint"] == "last"
    assert 0 <= study["pretrain"]["rotation_test_acc"] <= 100
    for head in ("nonlinear", "conv"):
        assert 0 <= study["probe"]["block2"][head]["test_acc"] <= 100
    assert study["probe"]["paper_test_acc"] == {"block2/nonlinear": 89.06, "block2/conv": 91.16}
    # 4. the summary printed beside the paper's figures, the cost table and GPU-hours before them
    assert "block2 conv" in checked.stdout and "paper 91.16%" in checked.stdout
    assert "per-backbone training cost" in checked.stdout and f"{nin['total']:.2f} h" in checked.stdout
    assert "simclr (200 epochs)" in checked.stdout
    assert "gpu_check_schema.py" not in checked.stdout  # the writer checks its JSON against the schema


class Read(dict):
    """A JSON object that records each key the reader asks of it that its schema part does
    not name (``problems``); its values come back wrapped with their own part."""

    def __init__(self, data: dict[str, Any], hint: Any, where: str, problems: list[str]) -> None:
        super().__init__(data)
        self.hint, self.where, self.problems = hint, where, problems

    def _part(self, key: str) -> Any:
        hint = self.hint
        if hint is None:
            return None
        if typing.get_origin(hint) is dict:
            return typing.get_args(hint)[1]
        names = typing.get_type_hints(hint)
        if key not in names:
            self.problems.append(f"{self.where}.{key}")
            return None
        return names[key]

    def _wrap(self, key: str, value: Any) -> Any:
        part = self._part(key)
        if isinstance(value, dict):
            args = [a for a in typing.get_args(part) if a is not type(None)] if part is not None else []
            if typing.get_origin(part) not in (None, dict) and len(args) == 1:  # X | None
                part = args[0]
            typed = part is not None and (schema.is_typed_dict(part) or typing.get_origin(part) is dict)
            return Read(value, part if typed else None, f"{self.where}.{key}", self.problems)
        return value

    def __getitem__(self, key: str) -> Any:
        return self._wrap(key, super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        self._part(key)  # records a key the schema does not name
        return default

    def items(self):
        return [(k, self[k]) for k in self]

    def values(self):
        return [self[k] for k in self]


def test_the_written_json_round_trips_through_the_reports_reader(checked):
    # The writer's file follows the schema and is the newest result the report finds.
    assert schema.problems(checked.result) == []
    path, result = latest_result(checked.path.parent)
    assert path == checked.path and result == checked.result
    lines = gpu_check_section((path, result))
    text = "\n".join(lines)
    nin = result["throughput"]["table"]["nin-rotation"]
    assert f"| NIN rotation pretraining | {nin['plain']:,.0f} | {nin['engine']:,.0f} |" in text
    conv = result["study"]["probe"]["block2"]["conv"]["test_acc"]
    assert f"| block 2, conv head | {conv:.2f} | 91.16 |" in text
    assert f"{result['costs']['study_gpu_hours']['total']:.2f} |" in text
    assert "| nin | SimCLR | 512 |" in text and "| nin | cifar10 |" in text  # its cost row and its GPU-hours
    # The reader asks only for keys the schema names (a key renamed on one side fails here).
    unnamed: list[str] = []
    assert gpu_check_section((path, Read(result, schema.GpuCheckResult, "result", unnamed))) == lines
    assert unnamed == []


def paths(value: Any, hint: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The key paths of ``value`` that the schema names (the keys of its typed parts)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) not in (None, dict, list) and len(args) == 1:  # X | None
        hint, args = args[0], list(typing.get_args(args[0]))
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict) and schema.is_typed_dict(hint):
        names = typing.get_type_hints(hint)
        for k, v in value.items():
            out += [(*where, k), *paths(v, names[k], (*where, k))]
    elif isinstance(value, dict) and typing.get_origin(hint) is dict:
        for k, v in value.items():
            out += paths(v, args[1], (*where, k))
    elif isinstance(value, list) and typing.get_origin(hint) is list:
        for i, v in enumerate(value):
            out += paths(v, args[0], (*where, i))
    return out


def test_a_field_missing_or_renamed_breaks_the_schema(checked):
    """Every key the schema names in the written result: without it, or under another name,
    the result no longer passes (the required ones), or names a key the schema does not."""
    required = 0
    for where in paths(checked.result, schema.GpuCheckResult):
        broken = json.loads(json.dumps(checked.result))
        parent = broken
        for k in where[:-1]:
            parent = parent[k]
        parent[where[-1] + "_renamed"] = parent.pop(where[-1])
        found = schema.problems(broken)
        name = "result" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in where)
        assert f"{name}_renamed: not in the schema" in found, where
        required += f"{name}: missing" in found
    assert required > 40  # most of the file is required


def test_a_part_that_outruns_the_box_is_stopped_and_the_rest_kept(checked, tmp_path):
    # No throughput table, no cost probe, and far more epochs than the box holds. The box: half
    # as long again as prepare and the study up to its plan took in the shared run (this machine,
    # as loaded now), so that the plan is written before the box closes; at least 14 s.
    phases, study = checked.result["phases"], checked.result["study"]
    to_plan = phases["study"]["seconds"] - study["pretrain"]["seconds"] - study["probe"]["seconds"]
    box = max(14, round(FINAL_S + 2 + 1.5 * (phases["prepare"]["seconds"] + to_plan)))
    run = run_check(tmp_path, "--budget-s", str(box), "--workloads", "--cost-backbones", "--epochs", "100000", "1")
    res = run.result
    assert run.rc == 0, run.stdout[-3000:]
    assert run.wall < box + 15
    assert res["phases"]["prepare"]["status"] == "complete"
    assert res["phases"]["study"]["status"] == "stopped at the time box"
    assert res["status"].startswith("partial: study stopped")
    assert res["study"]["plan"]["pretrain_epochs"] == 100000  # measured before the stop: kept
    assert "pretrain" not in res["study"]
    assert "not finished: stopped at the time box" in run.stdout
    assert "costs" not in res["phases"] and res["costs"]["status"] == "skipped: --cost-backbones is empty"
    assert schema.problems(res) == []  # a partial result follows the schema too
