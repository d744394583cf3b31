"""A tiny synthetic project the stage tests run stages in directly."""

import pytest

from rotnet.params import Params, parse_params
from tests.synthetic import TINY_TRAINING, save_project_data


@pytest.fixture
def project(tmp_path, monkeypatch) -> Params:
    monkeypatch.chdir(tmp_path)
    save_project_data(96, 32, 32)
    return parse_params(
        {
            "runtime": {"device": "cpu", "eval_batch_size": 64},
            "backbones": {"nin": {"width": 8}},
            "supervised": TINY_TRAINING,
            "pretrain": TINY_TRAINING,
            "probe": {**TINY_TRAINING, "hidden": 8},
            "finetune": TINY_TRAINING,
        }
    )
