"""SIGKILL at the write itself, for direct runs (`python stages/...`): the prepared
dataset, a checkpoint, a model and the report. Afterwards the old file is intact or the
new one complete, nothing half-written is read as valid, and a rerun finishes and leaves
no temporary behind."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch

from rotnet.data.prepared import load_prepared
from rotnet.models.saved import load_model_file
from tests.faults.inject import run_faulty
from tests.faults.projects import (
    CKPT,
    MODEL,
    TRAIN,
    leftovers,
    prepare_project,
    run_here,
    study_project,
    training_project,
)

KILLED = -signal.SIGKILL


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# -- the prepared dataset --------------------------------------------------------------


PREPARE = ["stages/prepare.py", "--dataset", "fashion"]


@pytest.mark.parametrize(
    ("mode", "match", "what"),
    [
        ("write", r"train_images\.npy$", "half an array written"),
        ("publish", r"meta\.json$", "every file written, meta.json not yet renamed"),
        ("swap", r"prepared/fashion$", "the old folder moved aside, the new one not yet in (no RENAME_EXCHANGE)"),
        ("cleanup", r"prepared/\.fashion\.rotnet-", "the new folder in, the old one not yet deleted"),
    ],
)
def test_a_prepare_killed_while_writing_leaves_the_old_or_the_new_dataset(tmp_path, mode, match, what):
    prepare_project(tmp_path, seed=0)
    done = run_faulty(PREPARE, tmp_path, "publish", r"^$")  # the fault never fires: a normal run
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "data/prepared/fashion"
    old = files_of(folder)

    prepare_project(tmp_path, seed=1)  # another validation split: other arrays
    killed = run_faulty(PREPARE, tmp_path, mode, match)
    assert killed.returncode == KILLED, f"not killed ({what}): {killed.stderr}"

    # Whatever the kill left, a reader sees one whole, verified dataset.
    data = load_prepared(folder)
    now = files_of(folder)
    if mode == "cleanup":
        assert now != old and data.meta["seed"] == 1
    else:
        assert now == old and data.meta["seed"] == 0, what

    rerun = run_faulty(PREPARE, tmp_path, "publish", r"^$")
    assert rerun.returncode == 0, rerun.stderr
    assert load_prepared(folder).meta["seed"] == 1
    assert leftovers(tmp_path / "data") == []


# -- a checkpoint and a model ----------------------------------------------------------


def test_a_run_killed_while_writing_a_checkpoint_resumes_from_the_previous_one(tmp_path, monkeypatch, capfd):
    training_project(tmp_path, seed=0)
    # The second checkpoint write (after epoch 2) dies half-way through.
    killed = run_faulty(TRAIN, tmp_path, "write", r"/\.last\.pt\.rotnet-", nth=2)
    assert killed.returncode == KILLED, killed.stderr
    ckpt = torch.load(tmp_path / CKPT, weights_only=True)  # the first one, whole
    assert ckpt["epoch"] == 1 and not ckpt["complete"]
    assert len(leftovers(tmp_path / "checkpoints")) == 1  # the half-written copy, hidden

    run_here(monkeypatch, tmp_path, TRAIN)
    assert "resuming after epoch 1" in capfd.readouterr().err
    assert load_model_file(tmp_path / MODEL, "supervised")["num_classes"] == 4
    assert leftovers(tmp_path / "checkpoints") == [] and leftovers(tmp_path / "models") == []


def test_a_run_killed_while_writing_its_model_keeps_the_old_model(tmp_path, monkeypatch):
    training_project(tmp_path, seed=0)
    run_here(monkeypatch, tmp_path, TRAIN)
    old = (tmp_path / MODEL).read_bytes()
    old_metrics = (tmp_path / "metrics/runs/cifar10/nin/supervised.json").read_bytes()

    training_project(tmp_path, seed=1)  # another seed: other weights
    killed = run_faulty(TRAIN, tmp_path, "write", r"/\.model\.pt\.rotnet-")  # half the model written
    assert killed.returncode == KILLED, killed.stderr
    assert (tmp_path / MODEL).read_bytes() == old
    assert (tmp_path / "metrics/runs/cifar10/nin/supervised.json").read_bytes() == old_metrics

    run_here(monkeypatch, tmp_path, TRAIN)
    new = (tmp_path / MODEL).read_bytes()
    assert new != old and load_model_file(tmp_path / MODEL, "supervised")["num_classes"] == 4
    assert leftovers(tmp_path / "models") == []


# -- the report -------------------------------------------------------------------------


def test_a_report_killed_while_writing_a_figure_keeps_the_old_report(tmp_path, monkeypatch):
    # Half a figure written, in the new figure folder: the old folder and the old HTML stay.
    study_project(tmp_path)
    metrics = tmp_path / "metrics"
    (metrics / "report_files").mkdir(parents=True)  # a report from before, as its files
    old_html = b"<html>the old report</html>"
    (metrics / "report.html").write_bytes(old_html)
    (metrics / "report_files" / "old.png").write_bytes(b"old")
    figures = ["old.png"]

    killed = run_faulty(["stages/report.py"], tmp_path, "write", r"report_files\.rotnet-.*/\.cifar10_samples\.png")
    assert killed.returncode == KILLED, killed.stderr
    assert (metrics / "report.html").read_bytes() == old_html
    now = sorted(p.name for p in (metrics / "report_files").iterdir())
    assert now == figures and (metrics / "report_files" / "old.png").read_bytes() == b"old"

    run_here(monkeypatch, tmp_path, ["stages/report.py"])
    assert (metrics / "report.html").read_bytes() != old_html
    assert "old.png" not in {p.name for p in (metrics / "report_files").iterdir()}
    assert leftovers(metrics) == []
    json.loads((metrics / "summary.json").read_text())


# -- rotnet orient ------------------------------------------------------------------------


def test_an_orient_killed_while_writing_a_copy_leaves_whole_copies_and_a_rerun_finishes(tmp_path, capsys):
    from tests.faults.test_name_collisions import _photos, _run
    from tests.inference.test_orient_rotations import _rotnet_file

    model = _rotnet_file(tmp_path / "rotnet.pt", [0, 90, 180, 270])
    _photos(tmp_path / "photos", "a.png", "b.png", "c.png")
    argv = ["orient", str(model), str(tmp_path / "photos"), "--out", str(tmp_path / "up")]
    killed = run_faulty(["rotnet.cli", *argv], tmp_path, "write", r"up/\.b\.png\.rotnet-")
    assert killed.returncode == KILLED, killed.stderr
    up = tmp_path / "up"
    assert sorted(p.name for p in up.iterdir() if ".rotnet-" not in p.name) == ["a.png"]  # whole, the only one
    assert len(leftovers(up)) == 1  # the half-written b.png, under a hidden name

    code, _, err = _run(capsys, *argv)
    assert code == 2 and "a.png already exists" in err and "--overwrite" in err  # nothing replaced silently
    code, _, err = _run(capsys, *argv, "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in up.iterdir()) == ["a.png", "b.png", "c.png", "orientation.csv"]


def test_a_predict_killed_while_writing_its_output_keeps_the_old_output(tmp_path, capsys):
    from rotnet.models.registry import create_backbone
    from tests.faults.test_name_collisions import _photos, _run
    from tests.inference.files import save_model
    from tests.synthetic import dataset

    net = create_backbone("nin", 4, options={"width": 16})  # the width save_model records
    model = save_model(tmp_path / "sup.pt", net, "supervised", 4, dataset(16, 4, 4))
    _photos(tmp_path, "a.png")
    target = tmp_path / "preds.csv"
    target.write_bytes(b"last week's predictions\n")
    argv = ["predict", str(model), str(tmp_path / "a.png"), "--format", "csv", "--output", str(target), "--overwrite"]
    killed = run_faulty(["rotnet.cli", *argv, "--device", "cpu"], tmp_path, "write", r"/\.preds\.csv\.rotnet-")
    assert killed.returncode == KILLED, killed.stderr
    assert target.read_bytes() == b"last week's predictions\n" and len(leftovers(tmp_path)) == 1

    code, _, err = _run(capsys, *argv, "--device", "cpu")
    assert code == 0, err
    assert target.read_text().startswith("file,") and leftovers(tmp_path) == []
