"""Fixtures of the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from rotnet.data import cifar
from tests.data.cifar_files import make_cifar_archive, md5


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch) -> tuple[Path, dict]:
    """A tiny official-format archive that the md5 check accepts."""
    path = tmp_path / "cifar-10-python.tar.gz"
    batches = make_cifar_archive(path)
    monkeypatch.setattr(cifar, "CIFAR10_MD5", md5(path))
    return path, batches
