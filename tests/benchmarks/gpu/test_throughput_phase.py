"""make gpu-check's throughput part: the table from the child's rows, its ratios, a broken
ceiling flagged, and the engine against the bar; the equal-cost workloads' plan and rows."""

import argparse
import json
import time

import pytest
import torch

from benchmarks.gpu.throughput_phase import (
    BAR_SAMPLES_PER_S,
    EQUAL_COST,
    KNOWN,
    WORKLOADS,
    bar,
    measure_into,
    plan,
    throughput_table,
)
from rotnet.report.gpu_check import equal_cost_ratio
from rotnet.training.tasks import RotationTask

ROWS = [
    {"workload": "nin-rotation", "side": "model-only", "compile": True, "images_per_s": 100.0},
    {"workload": "nin-rotation", "side": "engine", "compile": True, "images_per_s": 90.0},
    {"workload": "nin-rotation", "side": "plain", "compile": True, "images_per_s": 30.0},
    {"workload": "nin-rotation", "side": "engine", "compile": False, "images_per_s": 60.0},
    {"workload": "resnet50", "side": "plain", "compile": True, "skipped": "time box (3 s left)"},
    {"workload": "resnet18", "side": "model-only", "compile": True, "images_per_s": 100.0},
    {"workload": "resnet18", "side": "engine", "compile": True, "images_per_s": 111.0},
]


def test_throughput_table_its_ratios_and_a_broken_ceiling():
    table = throughput_table(ROWS, compiled=True)
    nin = table["nin-rotation"]
    assert nin["engine"] == 90 and nin["engine_eager"] == 60
    assert nin["engine_over_plain"] == 3.0 and nin["engine_over_model"] == 0.9 and nin["plain_over_model"] == 0.3
    assert "resnet50" not in table
    # An engine past model-only is a measurement bug, flagged and shown in the summary.
    assert not nin["ceiling_broken"] and table["resnet18"]["ceiling_broken"]


def test_the_bar_takes_the_faster_nin_engine():
    assert bar({"resnet18": {"engine": 100.0}}) is None  # no NIN engine figure: no bar
    got = bar({"nin-rotation": {"engine": 900.0, "engine_eager": 1000.0}})
    assert got["engine_samples_per_s"] == 4000 and got["fraction"] == round(4000 / BAR_SAMPLES_PER_S, 3)
    assert got["nin_200_epochs_min"] == round(200 * 45_000 * 4 / 4000 / 60, 1) and BAR_SAMPLES_PER_S == 120_000


def test_the_plan_runs_each_equal_cost_workloads_engine_first_on_one_rig():
    got = plan(["nin-simclr", "resnet18"], compiled=True)
    assert got == [
        ("nin-simclr", ("engine", "model-only"), True),  # one compile serves both; its figure comes first
        ("nin-simclr", ("plain",), True),
        ("nin-simclr", ("engine",), False),
        ("resnet18", ("model-only",), True),
        ("resnet18", ("engine",), True),
        ("resnet18", ("plain",), True),
        ("resnet18", ("engine",), False),
    ]
    assert WORKLOADS[: len(EQUAL_COST)] == EQUAL_COST and "resnet50" in KNOWN and "resnet50" not in WORKLOADS
    assert EQUAL_COST.index("nin-rotation") < EQUAL_COST.index("nin-simclr")  # each backbone's rotation first


@pytest.fixture
def one_thread():
    """Two threads on two busy cores spin: a tiny step takes seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_method_workloads_rows_its_skipped_plain_side_and_its_equal_cost_ratio(tmp_path, monkeypatch, one_thread):
    import numpy as np

    from benchmarks import throughput

    for method in ("rotation", "simclr"):
        task = RotationTask if method == "rotation" else "simclr"
        spec = ("tiny", "nin", {"blocks": 3, "width": 8}, task, method == "rotation")
        monkeypatch.setitem(throughput.WORKLOADS, f"tiny-{method}", spec)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 16)
    args = argparse.Namespace(until=time.time() + 120, min_measure_s=1.0, device="cpu", batch=8, workers=0, repeats=1)
    rows = tmp_path / "rows.jsonl"
    measure_into(rows, args, "tiny-simclr", ("engine", "model-only"), False, 1, images, labels)
    measure_into(rows, args, "tiny-simclr", ("plain",), False, 1, images, labels)
    measure_into(rows, args, "tiny-rotation", ("engine",), False, 1, images, labels)
    got = [json.loads(line) for line in rows.read_text().splitlines()]
    assert [(r["workload"], r["side"]) for r in got] == [
        ("tiny-simclr", "engine"), ("tiny-simclr", "model-only"), ("tiny-simclr", "plain"), ("tiny-rotation", "engine"),
    ]  # fmt: skip
    for r in got[:2]:
        assert r["images_per_s"] > 0 and abs(r["samples_per_s"] - 2 * r["images_per_s"]) <= 0.2 and r["steps"] == 1
    assert "two-view DataLoader" in got[2]["skipped"] and "images_per_s" not in got[2]
    assert abs(got[3]["samples_per_s"] - 4 * got[3]["images_per_s"]) <= 0.4
    table = throughput_table(got, compiled=False)
    assert "plain" not in table["tiny-simclr"] and "engine_over_plain" not in table["tiny-simclr"]
    ratio = equal_cost_ratio(table, "tiny", "simclr")
    assert ratio == table["tiny-simclr"]["engine"] / table["tiny-rotation"]["engine"]
    assert equal_cost_ratio(table, "tiny", "byol") is None  # not measured: no figure, never a guess
    late = argparse.Namespace(**{**vars(args), "until": time.time()})
    measure_into(rows, late, "tiny-simclr", ("engine", "model-only"), False, 1, images, labels)
    assert [json.loads(line)["skipped"][:8] for line in rows.read_text().splitlines()[4:]] == ["time box"] * 2
