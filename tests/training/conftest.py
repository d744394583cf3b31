"""A tiny prepared dataset where a stage's run reads it, for the tests of the run's parts."""

import pytest

from tests.synthetic import save_project_data


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_project_data(32, 16, 16)
