"""prepare@<dataset> (rotnet.stages.prepare), through what it wrote in the tiny study: every
split verified on load, the counts params ask for, classes whole in every split. (How each
source is read: tests/data/.)"""

from __future__ import annotations

import numpy as np
import pytest

from rotnet import paths
from rotnet.data.prepared import load_prepared
from rotnet.stages.prepare import main
from tests.stages.outputs import datasets, stage_error


@pytest.mark.slow
def test_each_dataset_is_prepared_with_the_counts_params_ask_for(tiny_study):
    for name in datasets(tiny_study):
        cfg = tiny_study.params["datasets"][name]
        data = load_prepared(tiny_study.repo / paths.prepared_dir(name))  # sizes and sha256s checked
        meta = data.meta
        assert meta["counts"] == {s: len(getattr(data, s).labels) for s in ("train", "val", "test")}
        assert meta["counts"]["val"] == cfg["val_size"] and meta["seed"] == tiny_study.params["seed"]
        for split in ("train", "val", "test"):
            labels = getattr(data, split).labels
            counts = np.bincount(labels, minlength=data.num_classes).tolist()
            assert counts == meta["per_class_counts"][split], (name, split)
            assert min(counts) > 0, (name, split)  # every class in every split
        assert list(data.train.images.shape[1:]) == meta["image_shape"]
        assert len(meta["mean"]) == len(meta["std"]) == meta["image_shape"][-1]
    # Fashion-MNIST's 28x28 gray images padded to 32, as its params entry says.
    fashion = load_prepared(tiny_study.repo / paths.prepared_dir("fashion_mnist")).meta
    assert fashion["image_shape"] == [32, 32, 1] and fashion["pad_to"] == 32


@pytest.mark.slow
def test_validation_is_carved_from_train_without_overlap(tiny_study):
    data = load_prepared(tiny_study.repo / paths.prepared_dir("cifar10"))
    train = {img.tobytes() for img in data.train.images}
    assert not train & {img.tobytes() for img in data.val.images}
    assert not train & {img.tobytes() for img in data.test.images}


def test_an_unknown_dataset_is_named_with_the_ones_params_define(tmp_path, monkeypatch, capsys):
    err = stage_error(main, ["--dataset", "nowhere"], tmp_path, monkeypatch, capsys, data=False)
    assert err.startswith("error: unknown dataset 'nowhere'; params.yaml defines: cifar10")
    assert not (tmp_path / "data").exists()
