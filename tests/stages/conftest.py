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


def save_method_backbone(params: Params, method: str) -> None:
    """A backbone where ssl_pretrain writes ``method``'s, saved as it saves one, its weights moved
    off any fresh draw: the ssl_* stages' input, faster than training one."""
    import torch

    from rotnet.training.context import StageRun

    with StageRun(params, "ssl_pretrain", "cifar10", "nin", variant=method) as stage:
        for _ in stage.each_seed():
            model = stage.env.new_backbone(4)
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(1.0)
            stage.outputs.save_model(model, 4, best_epoch=1, task=method)
            stage.write_results({}, {})
