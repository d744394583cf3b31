"""The install path: the project's own virtual environment and the pinned versions."""

import os
import subprocess
from importlib.metadata import version

import pytest

from tests import conftest
from tests.conftest import REPO_ROOT

PINNED = ("torch", "torchvision", "timm", "dvc", "pydantic", "numpy", "pandas", "scikit-learn")


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


def _make(*args: str, env: dict[str, str] | None = None) -> str:
    env = env or {"PATH": "/usr/bin:/bin"}  # no virtual environment active
    return subprocess.run(["make", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True).stdout


def test_make_installs_into_its_own_environment_with_the_lock(tmp_path):
    venv = REPO_ROOT / ".venv"
    pip = f"{venv}/bin/python -m pip install -c requirements.lock -e '.[dev]'"
    # It installs when the lock (or pyproject.toml) is newer than the last install...
    for changed in ("requirements.lock", "pyproject.toml"):
        assert pip in _make("-n", "-W", changed, "install"), changed
    # ...and not again when nothing changed: an environment (the active one, VIRTUAL_ENV) whose
    # stamp .installed is newer than both.
    active = tmp_path / "env"
    (active / "bin").mkdir(parents=True)
    (active / "bin" / "python").touch()
    (active / ".installed").touch()
    newest = max((REPO_ROOT / f).stat().st_mtime for f in ("requirements.lock", "pyproject.toml"))
    os.utime(active / ".installed", (newest + 10, newest + 10))
    env = {"PATH": "/usr/bin:/bin", "VIRTUAL_ENV": str(active)}
    assert "Nothing to be done for 'install'" in _make("-n", "install", env=env)
    assert f"{active}/bin/python -m pip install" in _make("-n", "-W", "requirements.lock", "install", env=env)
    assert "rotnet.cli profile run quick" in _make("-n", "quick")  # dvc exp run with profiles/quick.yaml
    # dvc, and the `python` of dvc.yaml's commands, come from the environment's bin/.
    shown = _make("-s", "--eval=show-path: ; @echo $$PATH", "show-path")
    assert shown.split(":")[0] == f"{venv}/bin"


def test_make_quick_adds_the_mini_archive_as_data_and_passes_no_path_to_the_study(tmp_path):
    # The data enters data/raw/cifar10 (tracked by content): no param names where it sat, so
    # dvc.lock is the same on every machine and a queued experiment needs no absolute path.
    mini = tmp_path / "cifar10-jpeg-mini.tar.gz"
    mini.touch()
    for args in ((), ("ARGS=--queue",)):
        quick = _make("-n", "quick", f"SHARED_MINI={mini}", *args)
        assert f"rotnet.cli data add cifar10 {mini} --replace" in quick
        run = next(line for line in quick.splitlines() if "profile run quick" in line)
        assert "datasets.cifar10.source=imagefolder" in run and "train_per_class=300" not in run
        assert str(tmp_path) not in run and ".path=" not in run
    # Without it, the official download cut to 300 images per class.
    mini.unlink()
    absent = _make("-n", "quick", f"SHARED_MINI={mini}")
    assert "rotnet.cli data add cifar10  --replace" in absent
    assert "datasets.cifar10.train_per_class=300" in absent and str(tmp_path) not in absent


def test_a_missing_dvc_fails_in_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(conftest, "DVC", None)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI must run the end-to-end tests"):
        conftest.require_dvc()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="dvc is not installed"):
        conftest.require_dvc()
