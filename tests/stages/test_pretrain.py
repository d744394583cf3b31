"""pretrain@<dataset>-<backbone> (rotnet.stages.pretrain), through what it wrote in the tiny
study: a RotNet per seed that names its angle set, rotation accuracies averaged over seeds.
(Other angle sets and masks: test_pretrain_rotations.py.)"""

from __future__ import annotations

import pytest
import torch

from rotnet import paths
from rotnet.models.saved import build_model, load_model_file
from rotnet.rotation import labels_of
from rotnet.stages.pretrain import main
from tests.stages.outputs import (
    BACKBONE,
    assert_averaged_over_seeds,
    datasets,
    metrics,
    record,
    seed_folders,
    seeds,
    stage_error,
)


@pytest.mark.slow
def test_rotation_accuracies_are_averaged_over_seeds(tiny_study):
    for name in datasets(tiny_study):
        figures = metrics(tiny_study, "pretrain", name)
        assert_averaged_over_seeds(figures, seeds(tiny_study), "rotation_val_acc", "rotation_test_acc")
        assert figures["images_per_s"] > 0
        per_seed = record(tiny_study, "pretrain", name)["per_seed"]
        assert [run["training_seed"] for run in per_seed.values()] == seeds(tiny_study)


@pytest.mark.slow
def test_each_seeds_rotnet_classifies_the_angle_set_params_name(tiny_study):
    angles = tiny_study.params["pretrain"]["rotations"]
    for name in datasets(tiny_study):
        folders = seed_folders(tiny_study, "pretrain", name)
        assert sorted(folders) == sorted(map(str, seeds(tiny_study)))
        for folder in folders.values():
            ckpt = load_model_file(folder / "model.pt", kind="pretrain")
            assert ckpt["rotations"] == angles and ckpt["num_classes"] == len(angles)
            model = build_model(ckpt).eval()
            channels = ckpt["in_chans"]
            with torch.no_grad():
                assert model(torch.zeros(1, channels, 32, 32)).shape == (1, len(angles))
        assert labels_of(angles) == ["0", "90", "180", "270"]
    assert (tiny_study.repo / paths.model_file("pretrain", "cifar10", BACKBONE)).is_file()


def test_a_bad_angle_set_is_refused_before_training(tmp_path, monkeypatch, capsys):
    argv = ["--dataset", "cifar10", "--backbone", "nin"]
    err = stage_error(main, argv, tmp_path, monkeypatch, capsys, params={"pretrain": {"rotations": [0, 30]}})
    assert err.startswith("error: invalid parameters in params.yaml") and "pretrain.rotations" in err
    assert "multiples of 45" in err and not (tmp_path / "models").exists()
