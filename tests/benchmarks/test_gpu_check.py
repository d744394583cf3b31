"""make gpu-check on the CPU with a box of seconds: every part runs, the JSON holds what
it measured, a part that outruns the box is stopped and what came before is kept."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from benchmarks.gpu_check import (
    cost_params,
    cost_table,
    phase_costs,
    plan_epochs,
    result_path,
    scaled,
    study_compile,
    study_gpu_hours,
    throughput_table,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def image_folder(root: Path, train: int = 16, test: int = 3) -> Path:
    """A tiny CIFAR-10-shaped image folder: each class its own colour, with noise."""
    import numpy as np

    rng = np.random.default_rng(0)
    for split, n in (("train", train), ("test", test)):
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                base = np.array([25 * c, 255 - 25 * c, (80 * c) % 256], dtype=np.int16)
                img = np.clip(base + rng.integers(-40, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
                img[: 8 + c, :4] = 255  # an asymmetric mark, so rotations are learnable
                Image.fromarray(img).save(folder / f"{i}.png")
    return root


def run_check(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict, float]:
    data = image_folder(tmp_path / "images")
    out = tmp_path / "results"
    cmd = [sys.executable, str(SCRIPT), "--device", "cpu", "--data", str(data), "--out", str(out), "--width", "8"]
    cmd += ["--val-size", "30", "--batch", "8", "--steps", "1", "--repeats", "1", "--workers", "0", "--compile", "off"]
    cmd += ["--calibration-steps", "1", "--min-measure-s", "0.5", *extra]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - t0
    files = list(out.glob("*.json"))
    assert len(files) == 1, (proc.stdout[-3000:], proc.stderr[-3000:])
    assert files[0].name.endswith("-cpu-x86-64.json") or "cpu" in files[0].name
    return proc, json.loads(files[0].read_text()), wall


def test_gpu_check_measures_everything_in_its_box(tmp_path):
    cost = ["--cost-backbones", "nin", "--cost-width", "8", "--cost-steps", "1", "--costs-share", "0.16"]
    proc, res, wall = run_check(tmp_path, "--budget-s", "56", "--throughput-share", "0.44", *cost)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert res["status"] == "complete", res["phases"]
    assert res["device_type"] == "cpu" and res["date"] and res["torch"]
    assert wall < 56 + 15  # the box, plus interpreter start-up and the final write
    # 1. the throughput table: three workloads, three sides each, with the ratios
    table = res["throughput"]["table"]
    assert set(table) == {"nin-rotation", "resnet18", "resnet50"}
    for row in table.values():
        assert {"plain", "engine", "model_only"} <= set(row)
        assert all(row[k] > 0 for k in ("plain", "engine", "model_only"))
        assert abs(row["engine_over_model"] - row["engine"] / row["model_only"]) < 0.01
    assert res["bar"]["engine_samples_per_s"] == round(4 * table["nin-rotation"]["engine"])
    # 2. the cost probe: NIN at the committed batch, both tasks, and the study's GPU-hours
    costs = res["costs"]
    assert costs["status"] == res["phases"]["costs"]["status"] == "complete"
    for task, per_image in (("supervised", 1), ("rotation", 4)):
        row = costs["table"]["nin"][task]
        assert row["images_per_s"] > 0 and abs(row["samples_per_s"] - per_image * row["images_per_s"]) < 0.1
        assert row["batch"] == 128 and row["samples_per_step"] == 128 * per_image
        assert 1 <= row["micro_batch"] <= 128
        assert row["peak_gib"] is None and "not measured on the CPU" in row["peak_of"]
    hours = costs["study_gpu_hours"]
    nin = hours["per_backbone"]["nin"]
    assert set(nin["datasets"]) == set(cost_params(None).study.datasets) and nin["total"] > 0
    assert "--cost-width 8" in hours["note"] and hours["unmeasured"] == []
    # 3. the study: a plan within the paper's epochs, pretraining, then the block-2 probes
    study = res["study"]
    assert study["data"].endswith("130 train / 30 val / 30 test")
    plan = study["plan"]
    assert 1 <= plan["probe_epochs"] <= plan["pretrain_epochs"] <= 200
    assert plan["nin"] == {"blocks": 4, "width": 8, "init": "official"}  # profiles/paper.yaml, merged in Python
    assert plan["profile"] == "paper" and plan["pretrain_checkpoint"] == "last"
    assert 0 <= study["pretrain"]["rotation_test_acc"] <= 100
    for head in ("nonlinear", "conv"):
        assert 0 <= study["probe"]["block2"][head]["test_acc"] <= 100
    assert study["probe"]["paper_test_acc"] == {"block2/nonlinear": 89.06, "block2/conv": 91.16}
    # 4. the summary printed beside the paper's figures, the cost table and GPU-hours before them
    assert "block2 conv" in proc.stdout and "paper 91.16%" in proc.stdout
    assert "per-backbone training cost" in proc.stdout and f"{nin['total']:.2f} h" in proc.stdout


def test_a_part_that_outruns_the_box_is_stopped_and_the_rest_kept(tmp_path):
    # No throughput table, no cost probe, and far more epochs than a few seconds hold.
    proc, res, wall = run_check(
        tmp_path, "--budget-s", "14", "--workloads", "--cost-backbones", "--epochs", "100000", "1"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert wall < 14 + 15
    assert res["phases"]["prepare"]["status"] == "complete"
    assert res["phases"]["study"]["status"] == "stopped at the time box"
    assert res["status"].startswith("partial: study stopped")
    assert res["study"]["plan"]["pretrain_epochs"] == 100000  # measured before the stop: kept
    assert "pretrain" not in res["study"]
    assert "not finished: stopped at the time box" in proc.stdout
    assert "costs" not in res["phases"] and res["costs"]["status"] == "skipped: --cost-backbones is empty"


def test_a_second_run_never_overwrites_the_first(tmp_path):
    first = result_path(tmp_path, "NVIDIA H200", "2026-11-28")
    assert first.name == "2026-11-28-nvidia-h200.json"
    first.write_text("{}")
    assert result_path(tmp_path, "NVIDIA H200", "2026-11-28").name == "2026-11-28-nvidia-h200-2.json"


def test_paper_schedule_compressed():
    assert scaled([60, 120, 160], 200, 200) == [60, 120, 160]
    assert scaled([60, 120, 160], 200, 40) == [12, 24, 32]
    assert scaled([60, 120, 160], 200, 3) == [1, 2]  # no repeats, none at the last epoch
    assert scaled([60, 120, 160], 200, 1) == []


def test_epochs_fit_the_box_in_the_papers_ratio():
    assert plan_epochs(100, pre_epoch_s=2, probe_epoch_s=1) == (40, 20)
    assert plan_epochs(1e9, 2, 1) == (200, 100)  # never past the paper's
    assert plan_epochs(5, 2, 1) == (2, 1)  # less than one 2:1 round: one probe epoch


def test_throughput_table_and_the_study_compile_choice():
    rows = [
        {"workload": "nin-rotation", "side": "model-only", "compile": True, "images_per_s": 100.0},
        {"workload": "nin-rotation", "side": "engine", "compile": True, "images_per_s": 90.0},
        {"workload": "nin-rotation", "side": "plain", "compile": True, "images_per_s": 30.0},
        {"workload": "nin-rotation", "side": "engine", "compile": False, "images_per_s": 60.0},
        {"workload": "resnet50", "side": "plain", "compile": True, "skipped": "time box (3 s left)"},
        {"workload": "resnet18", "side": "model-only", "compile": True, "images_per_s": 100.0},
        {"workload": "resnet18", "side": "engine", "compile": True, "images_per_s": 111.0},
    ]
    table = throughput_table(rows, compiled=True)
    nin = table["nin-rotation"]
    assert nin["engine"] == 90 and nin["engine_eager"] == 60
    assert nin["engine_over_plain"] == 3.0 and nin["engine_over_model"] == 0.9 and nin["plain_over_model"] == 0.3
    assert "resnet50" not in table
    # An engine past model-only is a measurement bug, flagged and shown in the summary.
    assert not nin["ceiling_broken"] and table["resnet18"]["ceiling_broken"]
    assert study_compile(table, "auto") == "on"  # 1.5x over eager
    assert study_compile({"nin-rotation": {"engine": 61, "engine_eager": 60}}, "auto") == "off"
    assert study_compile(table, "off") == "off"


def cost_args(until: float) -> argparse.Namespace:
    return argparse.Namespace(
        device="cpu", cost_backbones=["resnet18", "nin"], cost_steps=1, cost_width=8, min_measure_s=5.0, until=until
    )


def test_the_cost_probe_skips_what_the_box_cannot_hold_and_survives_a_failure(tmp_path, monkeypatch):
    import costs  # benchmarks/costs.py, on the path as gpu_check puts it

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
