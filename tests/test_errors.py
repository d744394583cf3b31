"""RotnetError: an error caused by input, which code that handles its own errors never swallows."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rotnet.errors import RotnetError
from tests.conftest import REPO_ROOT


def test_handlers_of_builtin_errors_do_not_catch_it():
    # Code catches ValueError and OSError for bad images and files (rotnet.inference.images):
    # a RotnetError raised inside must reach the user, not become one bad file's note.
    with pytest.raises(RotnetError, match="the fix"):
        try:
            raise RotnetError("the problem; the fix")
        except (ValueError, OSError, RuntimeError, KeyError):
            pytest.fail("caught as a built-in error")


def test_a_stage_prints_it_without_a_traceback_and_exits_with_2(tmp_path):
    (tmp_path / "params.yaml").write_text("study: {datasets: [nowhere]}\n")
    run = subprocess.run(
        [sys.executable, "-m", "rotnet.stages.prepare", "--dataset", "nowhere"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: ") and "Traceback" not in run.stderr
