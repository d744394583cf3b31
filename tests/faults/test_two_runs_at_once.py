"""Two runs at once, on the direct path (no DVC lock): while one process is writing a
stage's outputs, a second writer of the same outputs fails at once with a message naming
the first; the first finishes and its outputs are whole, never mixed with the second's.
The first process here pauses in the middle of a write until the test lets it go."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rotnet.data.prepared import load_prepared
from rotnet.errors import RotnetError
from rotnet.params import load_params
from rotnet.stages import prepare, report, supervised
from tests.faults.inject import start_paused
from tests.faults.projects import MODEL, TRAIN, prepare_project, study_project, training_project
from tests.faults.test_name_collisions import _photos, _run, rotnet_model  # noqa: F401  (a fixture)


@pytest.fixture
def paused(tmp_path) -> Iterator[callable]:
    """Start a child that pauses mid-write; the test lets it go (``release``) or it is killed."""
    procs: list[subprocess.Popen[str]] = []

    def start(argv: list[str], match: str) -> tuple[subprocess.Popen[str], callable]:
        flag = tmp_path / f"paused-{len(procs)}"
        proc = start_paused(argv, tmp_path, match, flag)
        procs.append(proc)
        deadline = time.monotonic() + 120
        while not flag.exists():
            if proc.poll() is not None:
                pytest.fail(f"the first run ended before its write: {proc.communicate()[1][-2000:]}")
            assert time.monotonic() < deadline, "the first run never reached its write"
            time.sleep(0.05)

        def release() -> tuple[int, str]:
            flag.unlink()
            _, err = proc.communicate(timeout=300)
            return proc.returncode, err

        return proc, release

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_second_prepare_fails_while_the_first_writes(tmp_path, monkeypatch, paused):
    prepare_project(tmp_path, seed=0)
    first, release = paused(["stages/prepare.py", "--dataset", "fashion"], r"train_images\.npy$")
    prepare_project(tmp_path, seed=1)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RotnetError, match=rf"prepare@fashion is already running \(pid {first.pid}, lock "):
        prepare.run(load_params("params.yaml"), "fashion")
    code, err = release()
    assert code == 0, err
    assert load_prepared("data/prepared/fashion").meta["seed"] == 0  # the first run's, whole


def test_a_second_training_run_fails_while_the_first_writes(tmp_path, monkeypatch, paused):
    training_project(tmp_path, seed=0)
    first, release = paused(TRAIN, r"/\.model\.pt\.rotnet-")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RotnetError, match=rf"supervised@cifar10-nin is already running \(pid {first.pid}, "):
        supervised.run(load_params("params.yaml"), "cifar10", "nin")
    code, err = release()
    assert code == 0, err
    assert Path(MODEL).stat().st_size > 0


def test_a_second_report_fails_while_the_first_writes(tmp_path, monkeypatch, paused):
    study_project(tmp_path)
    first, release = paused(["stages/report.py"], r"report_files\.rotnet-.*/\.cifar10_curves\.png")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RotnetError, match=rf"report is already running \(pid {first.pid}, "):
        report.run(load_params("params.yaml"))
    code, err = release()
    assert code == 0, err
    assert Path("metrics/report.html").is_file()


def test_a_second_orient_into_the_same_folder_fails_while_the_first_writes(tmp_path, paused, capsys, rotnet_model):  # noqa: F811
    _photos(tmp_path / "photos", "a.png", "b.png", "c.png")
    argv = ["rotnet.cli", "orient", str(rotnet_model), str(tmp_path / "photos"), "--out", str(tmp_path / "up")]
    _, release = paused(argv, r"up/\.b\.png\.rotnet-")
    code, _, err = _run(capsys, *argv[1:])
    assert code == 2 and f"another rotnet orient is writing to {tmp_path / 'up'} right now" in err
    done, err = release()
    assert done == 0, err
    assert sorted(p.name for p in (tmp_path / "up").iterdir()) == ["a.png", "b.png", "c.png", "orientation.csv"]
