"""Profiles: the same params through `dvc exp run -S` and through Python, and no leaks."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from rotnet import profiles
from rotnet.errors import RotnetError
from rotnet.params import parse_params

ROOT = Path(__file__).resolve().parents[1]
# What a user adds to a profile: the image source, and a path with odd characters.
DATA = {"datasets.cifar10.source": "imagefolder", "datasets.cifar10.corruptions": "/data/cifar 10,c-v1"}


def _through_dvc(tmp_path: Path, overrides: dict) -> dict:
    """params.yaml after DVC's own -S code (what `dvc exp run -S` runs) applied the args."""
    apply_overrides = pytest.importorskip("dvc.utils.hydra", reason="dvc is a project dependency").apply_overrides
    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    apply_overrides(str(path), profiles.dvc_set_args(overrides)[1::2])
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "profiles").glob("*.yaml")))
def test_a_profile_gives_identical_params_through_dvc_and_through_python(tmp_path, name):
    overrides = {**profiles.load_profile(str(ROOT / "profiles" / f"{name}.yaml")), **DATA}
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    merged = profiles.merge(raw, overrides)
    assert _through_dvc(tmp_path, overrides) == merged
    params = parse_params(merged, name)
    assert params == parse_params(_through_dvc(tmp_path, overrides), name)
    assert params.datasets["cifar10"].corruptions == DATA["datasets.cifar10.corruptions"]
    assert params != parse_params(raw)  # the profile changed something


def test_the_quick_profile_is_the_makefiles_only_source_of_quick_params():
    quick = profiles.load_profile(str(ROOT / "profiles" / "quick.yaml"))
    assert quick["study.backbones"] == ["nin"] and quick["pretrain.epochs"] < 10
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "pretrain.epochs" not in makefile and "run quick" in makefile


def test_the_paper_profile_runs_as_the_official_code():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params = parse_params(profiles.merge(raw, profiles.load_profile(str(ROOT / "profiles" / "paper.yaml"))))
    assert [params.backbone_options(n)["init"] for n in ("nin", "nin3")] == ["official", "official"]
    assert params.pretrain.checkpoint == "last"
    assert params.pretrain.epochs == 200 and params.pretrain.schedule.milestones == [60, 120, 160]
    assert params.study.backbones == ["nin"] and params.study.datasets == ["cifar10"]


def test_strings_that_look_like_other_values_stay_strings(tmp_path):
    odd = {"datasets.cifar10.corruptions": "null", "runtime.device": "1"}
    got = _through_dvc(tmp_path, odd)
    assert got["datasets"]["cifar10"]["corruptions"] == "null" and got["runtime"]["device"] == "1"


def test_an_unknown_key_is_refused_with_its_name():
    with pytest.raises(RotnetError, match=r"pretrain\.epoch is not a key of params.yaml \(pretrain has no 'epoch'\)"):
        profiles.merge({"pretrain": {"epochs": 1}}, {"pretrain.epoch": 3}, "profiles/x.yaml")


def test_a_missing_profile_lists_the_profiles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "quick.yaml").write_text("a.b: 1\n")
    with pytest.raises(RotnetError, match="no profile profiles/qiuck.yaml; the profiles are: quick"):
        profiles.load_profile("qiuck")


# --- running: a stand-in for dvc that applies -S as `dvc exp run` does -------------------

FAKE_DVC = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from dvc.utils.hydra import apply_overrides
    args = sys.argv[3:]  # after "exp run"
    sets = [args[i + 1] for i, a in enumerate(args) if a == "-S"]
    if "--queue" not in args:
        apply_overrides("params.yaml", sets)
        if os.environ.get("FAKE_DVC_REPORT"):
            Path("metrics").mkdir(exist_ok=True)
            Path("metrics/report.md").write_text(" ".join(sets))
    """
)


@pytest.fixture
def project(tmp_path, monkeypatch):
    pytest.importorskip("dvc.utils.hydra", reason="dvc is a project dependency")
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", "params.yaml")
    Path("profiles").mkdir()
    Path("profiles/tiny.yaml").write_text("pretrain.epochs: 3\nstudy.backbones: [nin]\n")
    (tmp_path / "fake_dvc.py").write_text(FAKE_DVC)
    return [sys.executable, str(tmp_path / "fake_dvc.py")]


def test_a_profile_never_leaks_into_the_study_or_the_next_run(project, monkeypatch, capsys):
    original = Path("params.yaml").read_bytes()
    profiles.check_study()  # nothing applied yet
    monkeypatch.setenv("FAKE_DVC_REPORT", "1")
    assert profiles.run("tiny", ["-S", "supervised.epochs=2"], dvc=project) == 0
    now = yaml.safe_load(Path("params.yaml").read_text())
    assert now["pretrain"]["epochs"] == 3 and now["supervised"]["epochs"] == 2  # the workspace ran these
    assert "report: metrics/report.md" in capsys.readouterr().out
    with pytest.raises(RotnetError, match="params.yaml holds the tiny profile.*make unprofile"):
        profiles.check_study()
    # The next run starts from the params.yaml from before: the earlier -S does not carry.
    assert profiles.run("tiny", [], dvc=project) == 0
    now = yaml.safe_load(Path("params.yaml").read_text())
    assert now["pretrain"]["epochs"] == 3 and now["supervised"]["epochs"] == 200
    assert profiles.restore() is True
    assert Path("params.yaml").read_bytes() == original
    profiles.check_study()
    assert profiles.restore() is False


def test_a_queued_run_changes_nothing_and_names_no_report(project, capsys):
    original = Path("params.yaml").read_bytes()
    assert profiles.run("tiny", ["--queue"], dvc=project) == 0
    out = capsys.readouterr().out
    assert "report:" not in out and "no report was written by this run" in out
    assert Path("params.yaml").read_bytes() == original and not Path(".profile").exists()
    profiles.check_study()


def test_edits_after_a_run_are_kept_and_still_refused_as_the_study(project, capsys):
    assert profiles.run("tiny", [], dvc=project) == 0
    Path("params.yaml").write_text(Path("params.yaml").read_text().replace("seed: 0", "seed: 1"))
    assert profiles.run("tiny", [], dvc=project) == 0
    assert "was edited after the last tiny run: kept" in capsys.readouterr().err
    assert yaml.safe_load(Path("params.yaml").read_text())["seed"] == 1
    with pytest.raises(RotnetError, match="tiny profile"):
        profiles.check_study()
