"""Shared pytest fixtures."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def mini_cifar_archive() -> Path:
    """The 3000+1000-image CIFAR-10 JPEG archive that sits beside the checkout (CI has it too)."""
    path = REPO_ROOT.parent / "shared" / "datasets" / "cifar10-jpeg-mini.tar.gz"
    if not path.is_file():
        pytest.skip("../shared/datasets/cifar10-jpeg-mini.tar.gz not present (CI provides it)")
    return path


# The tools of the environment running the tests (a virtual environment's bin/ need not be
# on PATH): end-to-end tests call its dvc and, through dvc.yaml, its python.
ENV_BIN = Path(sys.executable).parent
TOOLS_PATH = f"{ENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
DVC = shutil.which("dvc", path=TOOLS_PATH)


def tools_env(**extra: str) -> dict[str, str]:
    """os.environ with this environment's bin/ first on PATH."""
    return {**os.environ, "PATH": TOOLS_PATH, **extra}


def require_dvc() -> None:
    """Skip without dvc, saying why; in CI (CI set), fail instead: the end-to-end tests must run there."""
    if DVC is not None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"dvc is not installed beside {sys.executable}; CI must run the end-to-end tests (make install)")
    pytest.skip(f"dvc is not installed beside {sys.executable} (make install)")


@pytest.fixture
def needs_dvc() -> None:
    require_dvc()


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """The tiny study, run once per session (tests/tiny_study.py). Read ``repo``; mutate clones."""
    require_dvc()
    from tests.tiny_study import build

    return build(tmp_path_factory.mktemp("tiny"))
