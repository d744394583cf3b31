"""A fake study collected once per session (records and histories only: no models)."""

from __future__ import annotations

import os

import pytest

from rotnet.report.results import StudyResults, collect
from tests.report import study


@pytest.fixture(scope="session")
def results(tmp_path_factory) -> StudyResults:
    root = tmp_path_factory.mktemp("study")
    params = study.make_params()
    study.write_study(root, params, models=False)
    here = os.getcwd()
    os.chdir(root)  # the study's paths are relative to the project root
    try:
        return collect(params)
    finally:
        os.chdir(here)
