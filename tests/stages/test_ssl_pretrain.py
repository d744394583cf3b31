"""rotnet/stages/ssl_pretrain.py: SimCLR or BYOL pretraining of a backbone, one instance per
method of study.methods, writing where paths.variant_kind says."""

import json

import pytest

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.models.saved import load_model_file
from rotnet.stages import ssl_pretrain

SMALL = {"epochs": 2, "batch_size": 32, "projector_hidden": 16, "projector_out": 8}


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_it_pretrains_the_backbone_and_writes_the_methods_outputs(project, method):
    section = getattr(project, method).model_copy(update=SMALL)
    params = project.model_copy(update={method: section})
    metrics = ssl_pretrain.run(params, "cifar10", "nin", method)
    kind = paths.variant_kind("ssl_pretrain", method)
    assert set(metrics) == {"knn_val_acc", "knn_test_acc", "images_per_s"}  # results only
    assert json.loads(paths.metrics_file(kind, "cifar10", "nin").read_text()) == metrics
    history = paths.history_file(kind, "cifar10", "nin").read_text().splitlines()
    assert "val_acc/knn" in history[0] and len(history) == 1 + 2
    record = json.loads(paths.record_file(kind, "cifar10", "nin").read_text())
    assert record["method"] == method and record["knn"] == {"k": 200, "temperature": 0.1, "features": "pooled last map"}
    assert record["epochs"] == 2 and 1 <= record["best_epoch"] <= 2
    saved = load_model_file(paths.model_file(kind, "cifar10", "nin"), kind="ssl_pretrain")
    assert saved["task"] == method and saved["backbone"] == "nin" and saved["num_classes"] == 4
    assert not any(k.startswith(("projector", "predictor")) for k in saved["state_dict"])  # the backbone alone


def test_a_method_outside_study_methods_is_refused(project):
    only = project.model_copy(update={"study": project.study.model_copy(update={"methods": ["simclr"]})})
    with pytest.raises(RotnetError, match=r"method 'byol' is not in study.methods \['simclr'\]; add it there"):
        ssl_pretrain.run(only, "cifar10", "nin", "byol")
