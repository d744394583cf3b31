"""The install path: the project's own virtual environment and the pinned versions."""

import subprocess
from importlib.metadata import version

import pytest

from tests import conftest
from tests.conftest import REPO_ROOT

PINNED = ("torch", "torchvision", "timm", "dvc", "pydantic", "numpy", "pandas")


def _lock() -> dict[str, str]:
    lines = (REPO_ROOT / "requirements.lock").read_text().splitlines()
    pins = dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))
    return {name.lower(): v for name, v in pins.items()}


def test_the_tests_run_with_the_locked_versions():
    lock = _lock()
    for name in PINNED:
        assert name in lock, f"requirements.lock does not pin {name}"
        installed = version(name)
        assert installed == lock[name], f"{name} {installed} is installed, the lock says {lock[name]}: make install"


def test_make_installs_into_its_own_environment_with_the_lock():
    env = {"PATH": "/usr/bin:/bin"}  # no virtual environment active
    venv = REPO_ROOT / ".venv"
    pip = f"{venv}/bin/python -m pip install -c requirements.lock -e '.[dev]'"
    # It installs when the lock (or pyproject.toml) is newer than the last install...
    for changed in ("requirements.lock", "pyproject.toml"):
        what_if = ["make", "-n", "-W", changed, "install"]
        out = subprocess.run(what_if, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
        assert pip in out.stdout, changed
    # ...and not again when nothing changed (the stamp .venv/.installed is newer than both).
    stamp = venv / ".installed"
    if stamp.is_file() and stamp.stat().st_mtime > max(
        (REPO_ROOT / f).stat().st_mtime for f in ("requirements.lock", "pyproject.toml")
    ):
        out = subprocess.run(["make", "-n", "install"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        assert pip not in out.stdout
    quick = subprocess.run(["make", "-n", "quick"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    assert "rotnet.cli profile run quick" in quick.stdout  # dvc exp run with profiles/quick.yaml
    # The data path is relative to the project root: dvc.lock is the same on every machine.
    # Only a queued or temporary experiment, run in a copy elsewhere, gets the absolute one.
    if (REPO_ROOT.parent / "shared/datasets/cifar10-jpeg-mini.tar.gz").is_file():
        assert "datasets.cifar10.path=../shared/datasets/cifar10-jpeg-mini.tar.gz" in quick.stdout
        queued = subprocess.run(
            ["make", "-n", "quick", "ARGS=--queue"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
        )
        assert f"datasets.cifar10.path={REPO_ROOT.parent.resolve()}/shared/" in queued.stdout
    # dvc, and the `python` of dvc.yaml's commands, come from the environment's bin/.
    shown = subprocess.run(
        ["make", "-s", "--eval=show-path: ; @echo $$PATH", "show-path"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.split(":")[0] == f"{venv}/bin"


def test_a_missing_dvc_fails_in_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(conftest, "DVC", None)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI must run the end-to-end tests"):
        conftest.require_dvc()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="dvc is not installed"):
        conftest.require_dvc()
