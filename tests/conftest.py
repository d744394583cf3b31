"""Shared pytest fixtures."""

from __future__ import annotations

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
