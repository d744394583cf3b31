"""probe@<dataset>-<backbone> (rotnet.stages.probe), through what it wrote in the tiny study:
heads and kNN on every frozen feature map of the RotNet, the best chosen on validation."""

from __future__ import annotations

import pytest

from rotnet import paths
from rotnet.models.registry import create_backbone
from rotnet.models.saved import load_model_file
from rotnet.stages.probe import main
from tests.stages.outputs import BACKBONE, datasets, is_accuracy, metrics, seed_folders, seeds, stage_error


def _feature_names(study) -> list[str]:
    options = study.params["backbones"][BACKBONE]
    return create_backbone(BACKBONE, 3, options=options).feature_names


@pytest.mark.slow
def test_every_map_is_probed_by_every_head_and_by_knn(tiny_study):
    maps = _feature_names(tiny_study)
    cfg = tiny_study.params["probe"]
    for name in datasets(tiny_study):
        figures = metrics(tiny_study, "probe", name)
        assert list(figures["layers"]) == maps and list(figures["knn"]) == maps
        for layer, by_head in figures["layers"].items():
            # A conv head only on probe.conv_layers; the others on every map.
            expected = {h for h in cfg["heads"] if h != "conv" or layer in cfg["conv_layers"]}
            assert set(by_head) == expected, (name, layer)
            assert all(is_accuracy(f["val_acc"]) and is_accuracy(f["test_acc"]) for f in by_head.values())
        assert all(is_accuracy(f["val_acc"]) and is_accuracy(f["test_acc"]) for f in figures["knn"].values())
        assert figures["seeds"] == seeds(tiny_study) and "layers" in figures["std"]


@pytest.mark.slow
def test_the_best_head_is_chosen_on_validation(tiny_study):
    for name in datasets(tiny_study):
        figures = metrics(tiny_study, "probe", name)
        best = figures["best"]
        candidates = [f for by_head in figures["layers"].values() for f in by_head.values()]
        chosen = figures["layers"][best["layer"]][best["head"]]
        assert best["val_acc"] == pytest.approx(chosen["val_acc"], abs=0.01)
        assert best["test_acc"] == pytest.approx(chosen["test_acc"], abs=0.01)  # read at the choice, not chosen
        assert best["val_acc"] == pytest.approx(max(c["val_acc"] for c in candidates), abs=0.01)


@pytest.mark.slow
def test_each_seed_saves_its_heads(tiny_study):
    folders = seed_folders(tiny_study, "probe", "cifar10")
    assert sorted(folders) == sorted(map(str, seeds(tiny_study)))
    for folder in folders.values():
        heads = load_model_file(folder / "heads.pt", kind="probe")
        assert heads["backbone"] == BACKBONE and heads["class_names"] == ["cat", "dog", "ship"]
        assert heads["heads"] and all(state for state in heads["heads"].values())
    assert (tiny_study.repo / paths.probe_heads_file("cifar10", BACKBONE)).is_file()


def test_without_a_pretrained_model_it_names_the_missing_file(tmp_path, monkeypatch, capsys):
    err = stage_error(main, ["--dataset", "cifar10", "--backbone", "nin"], tmp_path, monkeypatch, capsys)
    assert err.startswith("error: model file models/cifar10/nin/pretrain/model.pt not found; run the stage")
