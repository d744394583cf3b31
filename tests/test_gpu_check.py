"""make gpu-check on the CPU with a box of seconds: every part runs, the JSON holds what
it measured, a part that outruns the box is stopped and what came before is kept."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from benchmarks.gpu_check import plan_epochs, result_path, scaled, study_compile, throughput_table

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
    cmd += ["--val-size", "30", "--batch", "8", "--steps", "1", "--workers", "0", "--compile", "off"]
    cmd += ["--calibration-steps", "1", "--min-measure-s", "0.5", *extra]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - t0
    files = list(out.glob("*.json"))
    assert len(files) == 1, (proc.stdout[-3000:], proc.stderr[-3000:])
    assert files[0].name.endswith("-cpu-x86-64.json") or "cpu" in files[0].name
    return proc, json.loads(files[0].read_text()), wall


def test_gpu_check_measures_everything_in_its_box(tmp_path):
    proc, res, wall = run_check(tmp_path, "--budget-s", "45", "--throughput-share", "0.6")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert res["status"] == "complete", res["phases"]
    assert res["device_type"] == "cpu" and res["date"] and res["torch"]
    assert wall < 45 + 15  # the box, plus interpreter start-up and the final write
    # 1. the throughput table: three workloads, three sides each, with the ratios
    table = res["throughput"]["table"]
    assert set(table) == {"nin-rotation", "resnet18", "resnet50"}
    for row in table.values():
        assert {"plain", "engine", "model_only"} <= set(row)
        assert all(row[k] > 0 for k in ("plain", "engine", "model_only"))
        assert abs(row["engine_over_model"] - row["engine"] / row["model_only"]) < 0.01
    assert res["bar"]["engine_samples_per_s"] == round(4 * table["nin-rotation"]["engine"])
    # 2. the study: a plan within the paper's epochs, pretraining, then the block-2 probes
    study = res["study"]
    assert study["data"].endswith("130 train / 30 val / 30 test")
    plan = study["plan"]
    assert 1 <= plan["probe_epochs"] <= plan["pretrain_epochs"] <= 200
    assert plan["nin"] == {"blocks": 4, "width": 8}
    assert 0 <= study["pretrain"]["rotation_test_acc"] <= 100
    for head in ("nonlinear", "conv"):
        assert 0 <= study["probe"]["block2"][head]["test_acc"] <= 100
    assert study["probe"]["paper_test_acc"] == {"block2/nonlinear": 89.06, "block2/conv": 91.16}
    # 3. the summary printed beside the paper's figures
    assert "block2 conv" in proc.stdout and "paper 91.16%" in proc.stdout


def test_a_part_that_outruns_the_box_is_stopped_and_the_rest_kept(tmp_path):
    # No throughput table, and far more epochs than a few seconds hold.
    proc, res, wall = run_check(tmp_path, "--budget-s", "14", "--workloads", "--epochs", "100000", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert wall < 14 + 15
    assert res["phases"]["prepare"]["status"] == "complete"
    assert res["phases"]["study"]["status"] == "stopped at the time box"
    assert res["status"].startswith("partial: study stopped")
    assert res["study"]["plan"]["pretrain_epochs"] == 100000  # measured before the stop: kept
    assert "pretrain" not in res["study"]
    assert "not finished: stopped at the time box" in proc.stdout


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
    ]
    table = throughput_table(rows, compiled=True)
    nin = table["nin-rotation"]
    assert nin["engine"] == 90 and nin["engine_eager"] == 60
    assert nin["engine_over_plain"] == 3.0 and nin["engine_over_model"] == 0.9 and nin["plain_over_model"] == 0.3
    assert "resnet50" not in table
    assert study_compile(table, "auto") == "on"  # 1.5x over eager
    assert study_compile({"nin-rotation": {"engine": 61, "engine_eager": 60}}, "auto") == "off"
    assert study_compile(table, "off") == "off"
