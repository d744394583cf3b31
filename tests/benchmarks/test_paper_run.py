"""make gpu-check ARGS=--paper on the CPU at a tiny scale: a call stopped at its box keeps its
state, the same command continues it exactly and finishes, a finished run is only reprinted;
a run continued only with its own options, and the JSON's naming (the box's checks and the
recipe's arithmetic: gpu/test_paper_box.py, gpu/test_paper_report.py)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks import gpu_check
from benchmarks.paper_run import open_state, result_file
from rotnet.errors import RotnetError
from rotnet.report import paper
from tests.benchmarks.images import image_folder


def call(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> tuple[Any, dict]:
    """One call of the same command (`gpu_check.py --paper ...`): NIN width 8, 2 pretraining
    epochs and 1 probe epoch, a box that closes after 1 epoch of a stage (a box in epochs: the
    same point every run). The parent runs in this process (the stages run in its child
    process, as on the box): an interpreter start less per call; capfd holds both outputs."""
    argv = ["--paper", "--device", "cpu", "--data", str(tmp_path / "images"),
            "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state"), "--width", "8", "--val-size", "30",
            "--epochs", "2", "1", "--set", "datasets.cifar10.keep_first_per_class=null",
            "--box-epochs", "1"]  # fmt: skip
    rc = gpu_check.main(argv)
    proc = capfd.readouterr()
    assert rc == 0, proc.out[-3000:] + proc.err[-3000:]
    files = list((tmp_path / "out").glob("*.json"))
    assert len(files) == 1 and files[0].name.endswith("-paper.json"), files
    return proc, json.loads(files[0].read_text())


def test_a_run_stopped_at_its_box_continues_with_the_same_command_and_finishes(tmp_path, capfd):
    image_folder(tmp_path / "images")
    # 1. The box closes after pretraining's first epoch: state kept, nothing tested yet.
    proc, res = call(tmp_path, capfd)
    assert res["status"].startswith("in progress")
    assert res["stages"]["prepare"]["done"] and res["data"].endswith("130 train / 30 val / 30 test")
    pre = res["stages"]["pretrain"]
    assert (pre["done"], pre["epoch"], pre["epochs"]) == (False, 1, 2)
    assert (tmp_path / "state" / "work" / "checkpoints" / "cifar10" / "nin" / "pretrain" / "last.pt").is_file()
    assert all(r["test_acc"] is None for r in res["table1"])
    assert res["calls"][0]["status"] == "stopped at the box"
    assert res["recipe"]["calls"] and "run it again" in res["status"]
    assert "make gpu-check ARGS=--paper" in proc.out
    # 2. The same command resumes pretraining after epoch 1, then runs the probes.
    proc, res = call(tmp_path, capfd)
    assert "pretrain@nin: resuming after epoch 1" in proc.out + proc.err
    assert res["status"] == "finished" and res["full_protocol"] is False
    calls = res["stages"]["pretrain"]["calls"]
    assert [(c["from_epoch"], c["to_epoch"]) for c in calls.values()] == [(1, 1), (2, 2)]
    assert res["stages"]["probe"]["done"] and res["stages"]["probe"]["epoch"] == 1
    rows = {r["figure"]: r for r in res["table1"]}
    assert list(rows) == [f"block{i} nonlinear" for i in range(1, 5)] + ["block2 conv"]
    layers = res["stages"]["probe"]["figures"]["layers"]
    for name, r in rows.items():
        layer, head = name.split()
        assert r["test_acc"] == layers[layer][head]["test_acc"] and 0 <= r["test_acc"] <= 100
        assert r["epochs_run"] == {"pretrain": 2, "probe": 1} and r["epochs_paper"] == {"pretrain": 200, "probe": 100}
        assert r["best_epoch"] == 1
    assert rows["block2 nonlinear"]["paper_test_acc"] == paper.NIN_PROBES[4]["block2"]
    assert rows["block2 conv"]["paper_test_acc"] == paper.COMPARISON["RotNet + conv head"]
    assert res["protocol"]["probe"]["heads"] and res["protocol"]["pretrain"]["checkpoint"] == "last"  # the profile
    assert "89.06" in proc.out and "block2 conv" in proc.out
    # 3. A finished run is not rerun: the call only reprints it and writes the same JSON.
    t0 = time.monotonic()
    proc, again = call(tmp_path, capfd)
    assert "already finished" in proc.out and "resuming" not in proc.out + proc.err
    assert len(again["calls"]) == 2 and again["table1"] == res["table1"]
    assert time.monotonic() - t0 < 20


def test_a_run_is_continued_only_with_its_own_options_and_never_overwrites_another_json(tmp_path):
    opts = dict(data=None, val_size=30, train_per_class=None, width=8, epochs=[3, 2], set=[], profile="paper")
    args = argparse.Namespace(state=tmp_path / "state", fresh=False, mode="paper", **opts)
    run = open_state(args, "cpu-x")["runs"]["paper"]
    with pytest.raises(RotnetError, match=r"--width 8.*--fresh"):
        open_state(argparse.Namespace(**{**vars(args), "width": 16}), "cpu-x")
    assert (
        open_state(argparse.Namespace(**{**vars(args), "width": 16, "fresh": True}), "cpu-x")["options"]["width"] == 16
    )
    out = tmp_path / "out"
    out.mkdir()
    mine = result_file(out, run, "paper")
    assert mine.name == f"{run['date']}-cpu-x-paper.json"
    mine.write_text(json.dumps({"run_id": "another run"}))
    assert result_file(out, run, "paper").name == f"{run['date']}-cpu-x-paper-2.json"
    mine.write_text(json.dumps({"run_id": run["run_id"]}))
    assert result_file(out, run, "paper") == mine  # its own earlier write is updated
