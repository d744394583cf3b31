"""rotnet/training/environment.py: what a stage's run stands on: upstream models checked
against the params, the seeded model factory, and the fingerprint a resumed run must match."""

import shutil

import pytest
import torch

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.params import parse_params
from rotnet.training.context import StageRun
from tests.training.test_seed_runs import _params, _run


def test_reseeding_builds_the_same_random_backbone_again(data):
    with StageRun(_params([3]), "supervised", "cifar10", "nin") as stage:
        env = stage.env
        env.reseed()
        first = env.new_backbone(4).state_dict()
        other = env.new_backbone(4).state_dict()
        env.reseed()
        again = env.new_backbone(4).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)  # without reseeding: new draws


def test_an_upstream_model_built_with_other_options_is_refused(data):
    _run(_params([1]), {1: 50.0})
    wider = parse_params({"runtime": {"device": "cpu"}, "backbones": {"nin": {"width": 16}}})
    refused = pytest.raises(RotnetError, match=r"the supervised nin was built with options .*rerun the supervised")
    with StageRun(wider, "finetune", "cifar10", "nin") as stage, refused:
        stage.env.upstream_model("supervised")
    with StageRun(_params([1]), "finetune", "cifar10", "nin") as stage:
        ckpt, path = stage.env.upstream_model("supervised")
        assert path == paths.stage_dir("supervised", "cifar10", "nin") / "model.pt" and ckpt["best_epoch"] == 1


def test_a_variant_upstream_reads_a_file_of_its_stage_kind(data):
    params = _params([1])
    with StageRun(params, "ssl_pretrain", "cifar10", "nin", variant="simclr") as stage:
        stage.outputs.save_model(stage.env.new_backbone(4), 4, best_epoch=1)
    with StageRun(params, "ssl_finetune", "cifar10", "nin", variant="simclr-conv") as stage:
        ckpt, path = stage.env.upstream_model("ssl_pretrain/simclr")  # the file says ssl_pretrain
        assert ckpt["kind"] == "ssl_pretrain" and path == paths.model_file("ssl_pretrain/simclr", "cifar10", "nin")
        elsewhere = paths.model_file("pretrain/simclr", "cifar10", "nin")
        elsewhere.parent.mkdir(parents=True)
        shutil.copy(path, elsewhere)
        with pytest.raises(RotnetError, match=r"holds a 'ssl_pretrain' model, but a 'pretrain' model is needed"):
            stage.env.upstream_model("pretrain/simclr")  # the part before '/' is still checked


def test_the_fingerprint_holds_the_seed_params_and_data_a_resumed_run_must_match(data):
    params = _params([1, 2])
    with StageRun(params, "supervised", "cifar10", "nin") as stage:
        env = stage.env
        first = env.fingerprint(params.supervised, part="a")
        env.seed = 2
        second = env.fingerprint(params.supervised, part="a")
    assert first["training_seed"] == 1 and second["training_seed"] == 2 and first["part"] == "a"
    assert first["params"] == params.supervised.model_dump(mode="json") and first["data"]["counts"]
    assert first["backbone_options"] == {"width": 8} and first["stage"] == "supervised@cifar10-nin"
