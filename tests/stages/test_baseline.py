"""baseline@<dataset>-<backbone> (rotnet.stages.baseline): a study.baselines backbone trained on
the labels with the supervised recipe, where the supervised stage writes; only those backbones."""

from __future__ import annotations

import pytest

from rotnet import paths
from rotnet.models.saved import build_model, load_model_file
from rotnet.stages.baseline import main
from tests.stages.outputs import assert_averaged_over_seeds, datasets, metrics, record, seeds, stage_error


@pytest.mark.slow
def test_each_baseline_is_trained_with_the_supervised_recipe(tiny_study):
    baselines = tiny_study.params["study"]["baselines"]
    assert baselines, "the tiny study runs a baseline"
    for name in datasets(tiny_study):
        for backbone in baselines:
            figures = metrics(tiny_study, "supervised", name, backbone)
            assert_averaged_over_seeds(figures, seeds(tiny_study), "val_acc", "test_acc")
            run = record(tiny_study, "supervised", name, backbone)
            assert run["backbone"] == backbone and run["epochs"] == tiny_study.params["supervised"]["epochs"]
            ckpt = load_model_file(tiny_study.repo / paths.model_file("supervised", name, backbone), "supervised")
            model = build_model(ckpt)
            options = tiny_study.params["backbones"][backbone]
            assert len(model.feature_names) == options["blocks"]  # nin3: the paper's 3-block NIN


def test_a_backbone_outside_study_baselines_is_refused(tmp_path, monkeypatch, capsys):
    argv = ["--dataset", "cifar10", "--backbone", "nin"]
    err = stage_error(main, argv, tmp_path, monkeypatch, capsys, params={"study": {"baselines": ["nin3"]}})
    assert err.startswith("error: 'nin' is not in study.baselines (['nin3']); add it there")
    assert not (tmp_path / "models").exists()
