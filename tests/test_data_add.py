"""`rotnet data add`: the source copied into data/raw/<dataset>, `dvc add`ed and staged in git;
a different source replaced only when asked and only when DVC's cache holds the old one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from rotnet import data_add
from rotnet.errors import RotnetError
from tests.conftest import tools_env
from tests.data.test_raw import _folder

pytestmark = pytest.mark.usefixtures("needs_dvc")


def _git(*args: str, cwd) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=tools_env(), check=True)
    return done.stdout


def test_data_add_tracks_by_content_and_replaces_only_what_dvc_keeps(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.chdir(repo)
    monkeypatch.setenv("PATH", tools_env()["PATH"])
    params = {"study": {"datasets": ["pets"]}, "datasets": {"pets": {"source": "imagefolder"}}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    (repo / ".gitignore").write_text((Path(__file__).parents[1] / ".gitignore").read_text())
    _git("init", "-q", cwd=repo)
    subprocess.run(["dvc", "init", "-q"], cwd=repo, check=True, env=tools_env())

    src = _folder(tmp_path / "pets")
    lines = data_add.add("pets", src)
    assert lines[0] == f"data/raw/pets now holds {src}" and "staged in git" in lines[1] and len(lines) == 2
    assert "data/raw/pets.dvc" in _git("diff", "--cached", "--name-only", cwd=repo).split()
    recorded = (repo / "data/raw/pets.dvc").read_text()
    assert "md5:" in recorded and str(tmp_path) not in recorded  # content, never where it sat
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "pets", cwd=repo)

    other = _folder(tmp_path / "other" / "pets", "b")
    with pytest.raises(RotnetError, match="pass --replace"):
        data_add.add("pets", other)
    assert (repo / "data/raw/pets.dvc").read_text() == recorded
    data_add.add("pets", other, replace=True)
    assert (repo / "data/raw/pets.dvc").read_text() != recorded
    # The replaced source is DVC's to give back: the committed .dvc file and its cache.
    _git("checkout", "HEAD", "--", "data/raw/pets.dvc", cwd=repo)
    subprocess.run(["dvc", "checkout", "-q", "--force", "data/raw/pets.dvc"], cwd=repo, check=True, env=tools_env())
    assert (repo / "data/raw/pets/pets/train/cat/0.png").read_text() == "a"

    # Edited by hand since its `dvc add`: not in the cache, so never replaced.
    (repo / "data/raw/pets/pets/train/cat/mine.png").write_text("user's")
    with pytest.raises(RotnetError, match="differs from what data/raw/pets.dvc records"):
        data_add.add("pets", other, replace=True)
    assert (repo / "data/raw/pets/pets/train/cat/mine.png").read_text() == "user's"

    # A dataset params.yaml reads otherwise gets a note.
    assert any("params.yaml has no datasets.birds" in line for line in data_add.add("birds", src))
