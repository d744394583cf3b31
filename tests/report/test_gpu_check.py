"""The report's GPU-check section: the newest committed result, its figures and labels."""

import json
import shutil
from pathlib import Path

import pytest

from rotnet.errors import RotnetError
from rotnet.report.gpu_check import NOT_MEASURED, equal_cost_ratio, gpu_check_section, latest_result

COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
FIRST = COMMITTED / "2026-11-28-nvidia-h200.json"  # never overwritten: it predates the cost probe


def test_the_newest_result_is_shown(tmp_path):
    first = json.loads(FIRST.read_text())
    for name in ("2026-11-27-nvidia-h100.json", "2026-11-28-nvidia-h200.json", "2026-11-28-nvidia-h200-2.json"):
        (tmp_path / name).write_text(json.dumps({**first, "device": name}))
    # The paper run's JSON (benchmarks/gpu_check.py --paper) sits beside them: another kind.
    (tmp_path / "2026-11-28-nvidia-h200-paper.json").write_text(json.dumps({"kind": "rotnet gpu-check paper"}))
    path, result = latest_result(tmp_path)
    assert path.name == "2026-11-28-nvidia-h200-2.json" and result["device"] == path.name
    assert latest_result(tmp_path / "missing") is None
    assert gpu_check_section(None) == []


def test_a_result_that_breaks_the_schema_is_a_clear_error(tmp_path):
    broken = json.loads(FIRST.read_text())
    del broken["study"]["status"]  # what the schema finds: test_gpu_check_schema.py
    (tmp_path / FIRST.name).write_text(json.dumps(broken))
    with pytest.raises(RotnetError, match=r"gpu_check_schema\.py: .*result\.study\.status: missing") as err:
        latest_result(tmp_path)
    assert FIRST.name in str(err.value) and "rewrite it" in str(err.value)


def test_section_from_a_committed_result(tmp_path):
    committed = sorted(COMMITTED.glob("*.json"))
    assert committed, "benchmarks/results holds the committed gpu-check results"
    shutil.copy(committed[-1], tmp_path / committed[-1].name)
    found = latest_result(tmp_path)
    result = found[1]
    text = "\n".join(gpu_check_section(found))
    assert result["device"] in text and result["date"] in text
    nin = result["throughput"]["table"]["nin-rotation"]
    assert f"| NIN rotation pretraining | {nin['plain']:,.0f} | {nin['engine']:,.0f} |" in text
    probe = result["study"]["probe"]["block2"]
    assert f"| block 2, conv head | {probe['conv']['test_acc']:.2f} | 91.16 |" in text
    assert f"pretraining {result['study']['plan']['pretrain_epochs']} epochs (paper 200" in text


def test_an_unfinished_study_says_so():
    result = {
        "device": "NVIDIA H100",
        "date": "2026-11-28",
        "torch": "2.11",
        "elapsed_s": 481,
        "budget_s": 480,
        "status": "partial: study stopped at the time box",
        "options": {"compile": "on"},
        "throughput": {"table": {}},
        "study": {"status": "stopped at the time box", "data": "CIFAR-10"},
    }
    text = "\n".join(gpu_check_section((Path("x.json"), result)))
    assert "No throughput figures were measured." in text
    assert "did not run: stopped at the time box" in text


def minimal_result(**extra) -> dict:
    return {
        "device": "NVIDIA H200",
        "date": "2026-12-01",
        "torch": "2.11",
        "elapsed_s": 470,
        "budget_s": 480,
        "status": "complete",
        "options": {"compile": "on"},
        "throughput": {"table": {}},
        "study": {"status": "stopped at the time box", "data": "CIFAR-10"},
        **extra,
    }


def test_a_run_before_the_cost_probe_says_so():
    text = "\n".join(gpu_check_section((FIRST, json.loads(FIRST.read_text()))))
    assert "### Per-backbone training cost" in text
    assert "The per-backbone probe was not part of this run (it predates it)" in text
    skipped = minimal_result(costs={"status": "skipped: --cost-backbones is empty"})
    text = "\n".join(gpu_check_section((Path("x.json"), skipped)))
    assert "The per-backbone probe did not run: skipped: --cost-backbones is empty." in text


def test_the_cost_probe_table_and_the_studys_gpu_hours():
    peak = "CUDA memory allocated in the timed epoch"
    sup = {"images_per_s": 20123.4, "micro_batch": 128, "peak_gib": 1.5, "peak_of": peak}
    rot = {"images_per_s": 5000.0, "samples_per_s": 20000.0, "micro_batch": 64, "peak_gib": 6.25, "peak_of": peak}
    costs = {
        "status": "stopped at the time box",
        "steps": 5,
        "table": {
            "nin": {"supervised": sup, "rotation": rot},
            "efficientnet_b5": {
                "supervised": {"error": "RotnetError: one image\nper step does not fit"},
                "rotation": {"skipped": "the phase stopped before it"},
            },
        },
        "study_gpu_hours": {
            "per_backbone": {
                "nin": {"datasets": {"cifar10": {"total": 1.0}, "fashion_mnist": {"total": 1.25}}, "total": 2.25}
            },
            "total": 2.25,
            "unmeasured": ["efficientnet_b5"],
            "train_images": {"cifar10": 45000, "fashion_mnist": 55000},
            "note": "training steps only",
        },
    }
    text = "\n".join(gpu_check_section((Path("x.json"), minimal_result(costs=costs))))
    assert f"Peak memory: {peak}. Status: stopped at the time box." in text
    assert "| nin | 20,123.4 | 128 | 1.50 | 5,000.0 (20,000) | 64 | 6.25 |" in text
    assert "| efficientnet_b5 | – | – | – | – (–) | – | – |" in text
    assert "efficientnet_b5 supervised: RotnetError: one image per step does not fit" in text
    assert "efficientnet_b5 rotation: the phase stopped before it" in text
    assert "| backbone | cifar10 (45,000 train images) | fashion_mnist (55,000 train images) | total |" in text
    assert "| nin | 1.00 | 1.25 | 2.25 |" in text
    assert "| all measured (not measured: efficientnet_b5) |  |  | 2.25 |" in text


def test_simclr_and_byol_rows_the_equal_cost_epochs_and_their_gpu_hours():
    # the committed result predates them: each place says they await a GPU run, with no figure
    committed = "\n".join(gpu_check_section((FIRST, json.loads(FIRST.read_text()))))
    assert f"the equal-cost epochs: {NOT_MEASURED}" in committed and f"SimCLR and BYOL: {NOT_MEASURED}" in committed
    table = {
        "nin-rotation": {"engine": 10_000.0, "model_only": 11_000.0},
        "nin-simclr": {"engine": 15_000.0, "model_only": 16_000.0, "engine_over_model": 0.94},
        "resnet18-rotation": {"engine": 3_000.0},
    }
    rows = [{"workload": "nin-simclr", "side": "plain", "compile": True, "skipped": "no plain side for simclr: ..."}]
    assert equal_cost_ratio(table, "nin", "simclr") == 1.5
    assert equal_cost_ratio(table, "nin", "byol") is None and equal_cost_ratio(table, "resnet18", "simclr") is None
    day = {"supervised": 1.0, "pretrain": 0.5, "simclr": 1.5, "total": 3.0}
    epochs = {"supervised": 200, "pretrain": 200, "simclr": 200}
    per = {"nin": {"epochs": epochs, "total": 3.0, "datasets": {"cifar10": day}}}
    simclr = {"images_per_s": 4_000.0, "samples_per_s": 8_000.0, "batch": 512, "micro_batch": 512, "peak_gib": 9.5}
    costs = {
        "status": "complete",
        "steps": 5,
        "table": {"nin": {"supervised": {"images_per_s": 1.0}, "rotation": {"images_per_s": 1.0}, "simclr": simclr}},
        "study_gpu_hours": {
            "per_backbone": per,
            "total": 3.0,
            "unmeasured": [],
            "methods_unmeasured": ["nin byol"],
            "train_images": {"cifar10": 45_000},
            "note": "training steps only",
        },
    }
    result = minimal_result(throughput={"table": table, "rows": rows, "batch": 128, "steps": 100}, costs=costs)
    text = "\n".join(gpu_check_section((Path("x.json"), result)))
    assert "| NIN SimCLR pretraining | – | 15,000 | 16,000 | – | –× | 94% |" in text
    assert "Not measured: nin-simclr plain: no plain side for simclr: ..." in text
    assert "nin: one RotNet epoch costs as much as 1.50 SimCLR epochs." in text and "BYOL epochs" not in text
    assert "| nin | SimCLR | 512 | 4,000.0 (8,000) | 512 | 9.50 |" in text
    assert "| backbone | dataset | RotNet (200 epochs) | SimCLR (200 epochs) | BYOL (– epochs) |" in text
    assert "| nin | cifar10 | 0.50 | 1.50 | – |" in text
