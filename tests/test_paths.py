"""Where each stage reads and writes (rotnet.paths): one place per stage instance, no two alike."""

from __future__ import annotations

import itertools
from pathlib import Path

from rotnet import paths

KINDS = ("supervised", "pretrain", "probe", "control", paths.variant_kind("finetune", "conv"), "semisup")
DATASETS = ("cifar10", "fashion_mnist")
BACKBONES = ("nin", "resnet18")


def test_a_variant_sits_one_folder_below_its_stage():
    conv = paths.variant_kind("finetune", "conv")
    assert paths.variant_kind("finetune", None) == "finetune"
    assert paths.model_file(conv, "cifar10", "nin") == Path("models/cifar10/nin/finetune/conv/model.pt")
    assert paths.metrics_file(conv, "cifar10", "nin") == Path("metrics/runs/cifar10/nin/finetune/conv.json")
    assert paths.record_file(conv, "cifar10", "nin").parent == paths.model_dir(conv, "cifar10", "nin")


def test_every_path_is_relative_to_the_project_root():
    # DVC runs every stage in the project root: an absolute path would differ between machines.
    made = [
        paths.prepared_dir("cifar10"),
        paths.stage_lock("pretrain@cifar10-nin"),
        paths.small_input_file("cifar10"),
        paths.summary_file(),
        *(f(k, d, b) for f in (paths.model_file, paths.checkpoint_dir, paths.logs_dir) for k, d, b in _instances()),
    ]
    assert not any(p.is_absolute() for p in made)


def _instances():
    return itertools.product(KINDS, DATASETS, BACKBONES)


def test_no_two_stage_instances_share_an_output():
    for make in (paths.model_file, paths.record_file, paths.metrics_file, paths.history_file, paths.checkpoint_dir):
        made = [make(*i) for i in _instances()]
        assert len(set(made)) == len(made), make.__name__
    metrics = {paths.metrics_file(*i) for i in _instances()}
    assert not metrics & {paths.history_file(*i) for i in _instances()}
    assert paths.semisup_file("cifar10", "nin") == paths.metrics_file("semisup", "cifar10", "nin")


def test_a_stage_without_a_backbone_keeps_its_outputs_per_dataset():
    assert paths.stage_dir("small_input", "cifar10", None) == Path("models/cifar10/small_input")
    assert paths.small_input_record("cifar10") == paths.stage_dir("small_input", "cifar10", None) / "run.json"
    assert paths.stage_dir("pretrain", "cifar10", "nin") == paths.model_file("pretrain", "cifar10", "nin").parent
    assert paths.seeds_dir("pretrain", "cifar10", "nin").parent == paths.stage_dir("pretrain", "cifar10", "nin")
    assert paths.probe_heads_file("cifar10", "nin").parent == paths.model_dir("probe", "cifar10", "nin")


def test_resumable_state_and_locks_stay_outside_the_dvc_outputs():
    state = [paths.checkpoint_dir(*i) for i in _instances()] + [paths.stage_lock("probe@cifar10-nin")]
    for p in state:
        assert p.is_relative_to(paths.CHECKPOINTS)
        assert not p.is_relative_to(paths.MODELS) and not p.is_relative_to(paths.METRICS)
    assert paths.stage_lock("a@x") != paths.stage_lock("a@y")
    # The report's folder holds the per-stage metrics it reads and the summary it writes.
    assert paths.runs_dir().is_relative_to(paths.report_dir())
    assert paths.summary_file().parent == paths.report_dir()
    assert paths.small_input_file("cifar10").is_relative_to(paths.runs_dir())
