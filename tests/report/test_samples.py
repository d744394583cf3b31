"""Sample predictions for the report (rotnet.report.samples): images spread over the test split,
and the selected model's predictions on them."""

from __future__ import annotations

import numpy as np
import pytest

from rotnet import paths
from rotnet.data.prepared import load_prepared
from rotnet.report.samples import pick, predict_samples
from tests.report import study


@pytest.fixture
def fake_study(tmp_path, monkeypatch):
    params = study.make_params()
    study.write_study(tmp_path, params)
    monkeypatch.chdir(tmp_path)
    return params


def test_sample_predictions_come_from_the_selected_model(fake_study):
    prepared = load_prepared(paths.prepared_dir("shapes"))
    samples = predict_samples(paths.model_file("finetune/conv", "shapes", "nin"), "finetune", prepared.test)
    assert samples.images.shape == (32, study.SIZE, study.SIZE, 3)
    assert samples.true == prepared.test.labels[pick(32, 12)].tolist()
    assert len(samples.pred) == 32 and set(samples.pred) <= {0, 1, 2}


def test_pick_spreads_over_the_whole_split_first_and_last_included():
    chosen = pick(5, 101)
    assert chosen.tolist() == [0, 25, 50, 75, 100]
    assert pick(32, 12).min() == 0 and pick(32, 12).max() == 11  # more samples than images: repeats, in range
    assert np.all(np.diff(pick(10, 1000)) > 0)
