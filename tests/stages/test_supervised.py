"""supervised@<dataset>-<backbone> (rotnet.stages.supervised), through what it wrote in the tiny
study (two training seeds): a loadable classifier per seed, figures averaged over the seeds."""

from __future__ import annotations

import statistics

import pytest
import torch

from rotnet import paths
from rotnet.data.prepared import load_prepared
from rotnet.models.saved import build_model, load_model_file
from rotnet.stages.supervised import main
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
def test_metrics_are_the_mean_and_std_of_every_seeds_run(tiny_study):
    for name in datasets(tiny_study):
        figures = metrics(tiny_study, "supervised", name)
        assert_averaged_over_seeds(figures, seeds(tiny_study), "val_acc", "test_acc")
        per_seed = record(tiny_study, "supervised", name)["per_seed"]
        assert sorted(per_seed) == sorted(map(str, seeds(tiny_study)))
        for key in ("val_acc", "test_acc"):
            values = [run[key] for run in per_seed.values()]
            assert figures[key] == pytest.approx(statistics.fmean(values), abs=0.01), (name, key)
            assert figures["std"][key] == pytest.approx(statistics.stdev(values), abs=0.01), (name, key)


@pytest.mark.slow
def test_the_run_record_holds_per_class_figures_over_the_test_split(tiny_study):
    data = load_prepared(tiny_study.repo / paths.prepared_dir("cifar10"))
    for run in record(tiny_study, "supervised", "cifar10")["per_seed"].values():
        assert list(run["per_class_test_acc"]) == data.class_names
        confusion = run["test_confusion"]
        assert len(confusion) == data.num_classes and sum(map(sum, confusion)) == len(data.test.labels)
        right = sum(confusion[i][i] for i in range(data.num_classes))
        assert run["test_acc"] == pytest.approx(100 * right / len(data.test.labels), abs=0.01)
        assert 1 <= run["best_epoch"] <= tiny_study.params["supervised"]["epochs"]


@pytest.mark.slow
def test_each_seed_has_its_own_loadable_model_and_the_stage_folder_the_first(tiny_study):
    folders = seed_folders(tiny_study, "supervised", "cifar10")
    assert sorted(folders) == sorted(map(str, seeds(tiny_study)))
    states = {}
    for seed, folder in folders.items():
        ckpt = load_model_file(folder / "model.pt", kind="supervised")
        model = build_model(ckpt).eval()
        assert ckpt["backbone"] == BACKBONE and ckpt["class_names"] == ["cat", "dog", "ship"]
        with torch.no_grad():
            assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)
        states[seed] = ckpt["state_dict"]
    first, second = (states[str(s)] for s in seeds(tiny_study))
    assert any(not torch.equal(first[k], second[k]) for k in first)  # two seeds, two trainings
    stage = load_model_file(tiny_study.repo / paths.model_file("supervised", "cifar10", BACKBONE))
    assert all(torch.equal(stage["state_dict"][k], first[k]) for k in first)


@pytest.mark.slow
def test_the_history_has_a_row_per_epoch(tiny_study):
    lines = (tiny_study.repo / paths.history_file("supervised", "cifar10", BACKBONE)).read_text().splitlines()
    assert "epoch" in lines[0].split(",")
    assert len(lines) - 1 >= tiny_study.params["supervised"]["epochs"]


def test_an_unknown_backbone_is_named_with_the_valid_ones(tmp_path, monkeypatch, capsys):
    err = stage_error(main, ["--dataset", "cifar10", "--backbone", "vgg"], tmp_path, monkeypatch, capsys)
    assert err.startswith("error: unknown backbone 'vgg'; valid backbones: ") and "nin, resnet101" in err
    assert not (tmp_path / "models").exists()
