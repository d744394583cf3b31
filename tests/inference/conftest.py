"""An untrained classifier file, shared by the inference tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from rotnet.models.registry import create_backbone
from tests.inference.files import save_model
from tests.synthetic import dataset


@pytest.fixture
def classifier(tmp_path) -> Path:
    data = dataset(n_train=64, n_val=8, n_test=8)
    return save_model(tmp_path / "sup.pt", create_backbone("nin", 4, options={"width": 16}), "supervised", 4, data)
