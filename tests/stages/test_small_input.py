"""small_input@<dataset> (rotnet.stages.small_input): each way of showing 32x32 images to a
backbone built for large ones, trained briefly, its accuracy and speed side by side."""

from __future__ import annotations

import pytest

from rotnet import paths
from rotnet.stages.small_input import main
from tests.stages.outputs import datasets, is_accuracy, read_json, seeds, stage_error


@pytest.mark.slow
def test_every_choice_has_its_figures(tiny_study):
    choices = tiny_study.params["small_input"]["backbones"]
    for name in datasets(tiny_study):
        figures = read_json(tiny_study.repo, paths.small_input_file(name))
        assert list(figures["choices"]) == choices
        for choice in choices:
            assert is_accuracy(figures["choices"][choice]["val_acc"]), (name, choice)
            assert is_accuracy(figures["choices"][choice]["test_acc"]), (name, choice)
        assert figures["seeds"] == seeds(tiny_study)
        run = read_json(tiny_study.repo, paths.small_input_record(name))
        assert sorted(run["per_seed"]) == sorted(map(str, seeds(tiny_study)))


def test_an_unknown_choice_is_refused_when_params_are_read(tmp_path, monkeypatch, capsys):
    params = {"small_input": {"backbones": ["efficientnet_b0", "vgg"]}}
    err = stage_error(main, ["--dataset", "cifar10"], tmp_path, monkeypatch, capsys, params=params, data=False)
    assert err.startswith("error: params.yaml: small_input.backbones names 'vgg': unknown backbone 'vgg'")
    assert not (tmp_path / "models").exists()
