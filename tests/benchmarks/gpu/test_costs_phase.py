"""make gpu-check's cost probe: a measurement the box cannot hold is skipped and a failed one
recorded, the others still run; the table, and the paper-scale study's GPU-hours."""

from __future__ import annotations

import argparse
import json
import time

from benchmarks import costs
from benchmarks.gpu.costs_phase import cost_params, cost_table, phase_costs, study_gpu_hours


def cost_args(until: float) -> argparse.Namespace:
    return argparse.Namespace(
        device="cpu", cost_backbones=["resnet18", "nin"], cost_steps=1, cost_width=8, min_measure_s=5.0, until=until
    )


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
