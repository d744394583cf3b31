"""The docs' generated figures: blocks filled from result files, a finished quick run recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rotnet.errors import RotnetError
from rotnet.report import docblocks
from rotnet.report.docblocks import RESULTS, ROOT, fill, main, record_quick

SUMMARY = {"cifar10": {"nin": {"supervised": 37.7, "rotation": 54.18, "finetune_conv": 42.4}}}


def _quick(results: Path, date: str, supervised: float) -> None:
    record = {"kind": "rotnet quick", "schema": 1, "date": date, "host": "box", "device": "CPU (2 threads)"}
    record |= {"data": "mini copy", "summary": {"cifar10": {"nin": {"supervised": supervised, "rotation": 50.0}}}}
    (results / "quick").mkdir(parents=True, exist_ok=True)
    (results / "quick" / f"{date}-box.json").write_text(json.dumps(record))


def test_a_block_is_filled_from_the_newest_result_and_names_its_date_and_machine(tmp_path):
    results = tmp_path / "benchmarks" / "results"
    _quick(results, "2026-12-01", 30.0)
    _quick(results, "2026-12-03", 37.7)
    text = "intro\n<!-- results:quick:begin -->\nold figures\n<!-- results:quick:end -->\nafter\n"
    out = fill(text, results)
    assert out.startswith("intro\n<!-- results:quick:begin -->\nMeasured 2026-12-03 on box (CPU (2 threads))")
    assert "| cifar10 | nin | 37.70 | 50.00 |" in out and "30.00" not in out and "old figures" not in out
    assert out.endswith("<!-- results:quick:end -->\nafter\n")
    assert fill(out, results) == out  # regenerating changes nothing


def test_an_unknown_block_or_a_missing_result_is_a_clear_error(tmp_path):
    with pytest.raises(RotnetError, match="unknown docs block 'results:speed'"):
        fill("<!-- results:speed:begin -->\n<!-- results:speed:end -->", tmp_path)
    (tmp_path / "quick").mkdir()
    with pytest.raises(RotnetError, match="no 'rotnet quick' result"):
        fill("<!-- results:quick:begin -->\n<!-- results:quick:end -->", tmp_path)


def test_the_committed_results_give_every_block():
    for name, block in docblocks.BLOCKS.items():
        lines = block(RESULTS)
        assert lines[0].startswith("Measured 20") and "benchmarks/results/" in lines[0], name
        assert any(line.startswith("| ") for line in lines), name
    gpu = "\n".join(docblocks.gpu_check_block(RESULTS))
    assert "| block2, conv head | 83.07 | 91.16 |" in gpu  # the H200 run beside the paper's comparison table


def test_record_quick_writes_the_headline_of_a_finished_run(tmp_path):
    project = tmp_path / "project"
    (project / "metrics").mkdir(parents=True)
    (project / "metrics" / "summary.json").write_text(json.dumps(SUMMARY))
    record = project / "models" / "cifar10" / "nin" / "supervised" / "run.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"host": "my box", "device": "CPU (2 threads)", "data": "mini copy"}))
    written = record_quick(project, project / "out", "2026-12-03")
    assert written.name == "2026-12-03-my-box.json"
    saved = json.loads(written.read_text())
    assert saved["summary"] == SUMMARY and saved["host"] == "my box" and saved["kind"] == "rotnet quick"
    with pytest.raises(RotnetError, match="no finished study"):
        record_quick(tmp_path / "empty", tmp_path / "out", "2026-12-03")


def test_check_fails_on_a_stale_doc_and_write_mends_it(tmp_path, capsys):
    shutil.copytree(RESULTS / "quick", tmp_path / "benchmarks" / "results" / "quick")
    (tmp_path / "README.md").write_text("<!-- results:quick:begin -->\nretyped 99.99\n<!-- results:quick:end -->\n")
    assert main(["check", "--root", str(tmp_path)]) == 1
    assert "README.md" in capsys.readouterr().err
    assert main(["write", "--root", str(tmp_path)]) == 0
    assert main(["check", "--root", str(tmp_path)]) == 0
    assert "99.99" not in (tmp_path / "README.md").read_text()
    assert (tmp_path / "docs" / "report-probe.svg").read_bytes() == (ROOT / "docs" / "report-probe.svg").read_bytes()
