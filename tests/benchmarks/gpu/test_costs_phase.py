"""make gpu-check's cost probe: a measurement the box cannot hold is skipped and a failed one
recorded, the others still run; the table, and the paper-scale study's GPU-hours, SimCLR's
and BYOL's among them."""

from __future__ import annotations

import argparse
import json
import time

from benchmarks import costs
from benchmarks.gpu.costs_phase import COST_TASKS, cost_params, cost_table, phase_costs, study_gpu_hours


def cost_args(until: float, tasks: tuple[str, ...] = ("supervised", "rotation")) -> argparse.Namespace:
    return argparse.Namespace(
        device="cpu", cost_backbones=["resnet18", "nin"], cost_tasks=list(tasks), cost_steps=1, cost_width=8,
        min_measure_s=5.0, until=until,
    )  # fmt: skip


def test_the_cost_probe_skips_what_the_box_cannot_hold_and_survives_a_failure(tmp_path, monkeypatch):
    def measure(backbone, task, steps, device, params):
        if backbone == "resnet18":
            raise RuntimeError("out of memory")
        assert params.backbone_options(backbone)["width"] == 8  # --cost-width reached the models
        return {"backbone": backbone, "task": task, "images_per_s": 10.0, "micro_batch": 64, "seconds": 1.0,
                "peak_gib": 2.0, "peak_of": "peak resident memory of the process"}  # fmt: skip

    monkeypatch.setattr(costs, "measure", measure)
    rows = tmp_path / "costs.jsonl"
    phase_costs(cost_args(time.time() + 60), rows)
    got = [json.loads(line) for line in rows.read_text().splitlines()]
    assert [(r["backbone"], r["task"]) for r in got] == [
        ("resnet18", "supervised"), ("resnet18", "rotation"), ("nin", "supervised"), ("nin", "rotation"),
    ]  # fmt: skip
    assert all(r["error"] == "RuntimeError: out of memory" for r in got[:2])
    assert all(r["images_per_s"] == 10.0 and r["peak_gib"] is None for r in got[2:])  # no per-row RSS on the CPU
    short = tmp_path / "short.jsonl"
    phase_costs(cost_args(time.time() + 2), short)  # less than --min-measure-s left
    skipped = [json.loads(line) for line in short.read_text().splitlines()]
    assert len(skipped) == 4 and all(r["skipped"].startswith("time box") for r in skipped)


def test_cost_table_and_the_studys_gpu_hours():
    rows = [
        {"backbone": "nin", "task": "supervised", "images_per_s": 1000.0, "micro_batch": 128},
        {"backbone": "nin", "task": "rotation", "images_per_s": 250.0, "micro_batch": 128},
        {"backbone": "resnet18", "task": "supervised", "error": "RuntimeError: boom"},
    ]
    table = cost_table(rows, ["nin", "resnet18"])
    assert table["nin"]["rotation"] == {"images_per_s": 250.0, "micro_batch": 128}
    assert table["resnet18"]["rotation"] == {"skipped": "the phase stopped before it"}  # the child was stopped
    params = cost_params(None)
    hours = study_gpu_hours(table, params, None)
    assert hours["unmeasured"] == ["resnet18"] and "not the committed" not in hours["note"]
    # the official train split less val_size, in full batches of 128 (the engine drops the rest)
    train = {"cifar10": 50_000 - params.dataset("cifar10").val_size}
    train["fashion_mnist"] = 60_000 - params.dataset("fashion_mnist").val_size
    assert hours["train_images"] == {d: train[d] for d in params.study.datasets}
    nin = hours["per_backbone"]["nin"]
    sup, pre = params.recipe("supervised", "nin").epochs, params.recipe("pretrain", "nin").epochs
    for d in params.study.datasets:
        seen = train[d] // 128 * 128
        assert nin["datasets"][d]["supervised"] == round(sup * seen / 1000 / 3600, 3)
        assert nin["datasets"][d]["pretrain"] == round(pre * seen / 250 / 3600, 3)
    assert nin["total"] == hours["total"] > 0


def test_the_probe_measures_simclr_and_byol_per_backbone_and_their_gpu_hours(tmp_path, monkeypatch):
    asked = []

    def measure(backbone, task, steps, device, params):
        asked.append((backbone, task))
        batch = params.recipe(task, backbone).batch_size if task in ("simclr", "byol") else 128
        return {"backbone": backbone, "task": task, "images_per_s": 100.0, "batch": batch, "micro_batch": batch,
                "seconds": 1.0, "peak_gib": 1.0}  # fmt: skip

    monkeypatch.setattr(costs, "measure", measure)
    rows = tmp_path / "costs.jsonl"
    phase_costs(cost_args(time.time() + 60, tuple(COST_TASKS)), rows)
    order = [(b, t) for b in ("resnet18", "nin") for t in ("supervised", "rotation", "simclr", "byol")]
    assert asked == order and COST_TASKS == costs.TASKS  # a backbone's four, then the next's
    got = [json.loads(line) for line in rows.read_text().splitlines()]
    assert [r["batch"] for r in got if r["task"] in ("simclr", "byol")] == [512] * 4  # the committed batch
    # nin's BYOL was not measured: its hours are left out of the totals and named
    rates = {"supervised": 1000.0, "rotation": 250.0, "simclr": 400.0}
    table = cost_table([{"backbone": "nin", "task": t, "images_per_s": v} for t, v in rates.items()], ["nin"])
    assert table["nin"]["byol"] == {"skipped": "the phase stopped before it"}
    params = cost_params(None)
    hours = study_gpu_hours(table, params, None)
    assert hours["methods_unmeasured"] == ["nin byol"] and "not in the totals: nin byol" in hours["note"]
    nin = hours["per_backbone"]["nin"]
    simclr = params.recipe("simclr", "nin")
    assert nin["epochs"]["simclr"] == simclr.epochs == 200 and "byol" not in nin["epochs"]
    for d in params.study.datasets:
        day = nin["datasets"][d]
        seen = hours["train_images"][d] // 512 * 512  # full batches of 512 (45,000 -> 44,544)
        assert day["simclr"] == round(200 * seen / 400 / 3600, 3) and "byol" not in day
        assert abs(day["total"] - (day["supervised"] + day["pretrain"] + day["simclr"])) <= 0.002
    assert hours["unmeasured"] == []
