"""The report's GPU-check section: the newest committed result, its figures and labels."""

import json
import shutil
from pathlib import Path

from rotnet.report.gpu_check import gpu_check_section, latest_result

COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def test_the_newest_result_is_shown(tmp_path):
    for name in ("2026-11-27-nvidia-h100.json", "2026-11-28-nvidia-h200.json", "2026-11-28-nvidia-h200-2.json"):
        (tmp_path / name).write_text(json.dumps({"name": name}))
    path, result = latest_result(tmp_path)
    assert path.name == "2026-11-28-nvidia-h200-2.json" and result["name"] == path.name
    assert latest_result(tmp_path / "missing") is None
    assert gpu_check_section(None) == []


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
