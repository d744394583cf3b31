"""control@<dataset>-<backbone> (rotnet.stages.control), through what it wrote in the tiny study:
the probe's heads and kNN on backbones that are not a RotNet, one set of figures per init."""

from __future__ import annotations

import pytest

from rotnet.stages.control import main
from tests.stages.outputs import datasets, is_accuracy, metrics, seeds, stage_error

FIGURES = ("probe_val_acc", "probe_test_acc", "knn_val_acc", "knn_test_acc")


@pytest.mark.slow
def test_each_init_has_probe_and_knn_figures_averaged_over_seeds(tiny_study):
    inits = tiny_study.params["control"]["inits"]
    for name in datasets(tiny_study):
        figures = metrics(tiny_study, "control", name)
        assert [k for k in figures if k not in ("std", "seeds")] == inits
        for init in inits:
            assert all(is_accuracy(figures[init][key]) for key in FIGURES), (name, init)
            assert all(figures["std"][init][key] >= 0 for key in FIGURES), (name, init)
        assert figures["seeds"] == seeds(tiny_study)


def test_a_control_listed_twice_is_refused_when_params_are_read(tmp_path, monkeypatch, capsys):
    params = {"control": {"inits": ["random", "random"]}}
    err = stage_error(main, ["--dataset", "cifar10", "--backbone", "nin"], tmp_path, monkeypatch, capsys, params)
    assert err.startswith("error: invalid parameters in params.yaml") and "inits lists a control twice" in err
    assert not (tmp_path / "models").exists()
