"""params.yaml under DVC: a `dvc exp run -S` override of a recipe key reaches the stage (end to
end on the tiny study), and every key a stage tracks exists for a dataset in the short form."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from rotnet.params import parse_params

ROOT = Path(__file__).resolve().parents[2]


def _edit_params(repo: Path, edit) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    edit(params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))


RESOLVE = """import json, sys
sys.path.insert(0, {root!r})
from rotnet.params import load_params
p = load_params()
deep = ("resnet50", "resnet101", "resnet152")
json.dump({{b: p.recipe("pretrain", b).schedule.warmup_epochs for b in deep}}, open("out.json", "w"))
"""


@pytest.mark.slow  # about 13 s: git, dvc init and an experiment
def test_the_issues_override_on_the_committed_params_reaches_the_resolved_recipe(tmp_path, needs_dvc):
    """The issue's command on the committed params.yaml, in a repo whose one stage resolves the
    deep ResNets' pretrain recipe: with a shared (anchored) recipe DVC dropped the override."""
    from tests.tiny_study import GIT_USER, run

    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "resolve.py").write_text(RESOLVE.format(root=str(ROOT)))
    stage = {"cmd": "python resolve.py", "deps": ["resolve.py"], "params": ["backbones"], "outs": ["out.json"]}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"resolve": stage}}))
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    run(["git", "add", "-A"], tmp_path)
    run(["git", *GIT_USER, "commit", "-qm", "params"], tmp_path)
    overrides = ["backbones.resnet18.width=32", "backbones.resnet101.recipe.pretrain.schedule.warmup_epochs=3"]
    run(["dvc", "exp", "run", *(a for o in overrides for a in ("-S", o))], tmp_path)
    assert json.loads((tmp_path / "out.json").read_text()) == {"resnet50": 1, "resnet101": 3, "resnet152": 1}
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["backbones"]["resnet18"]["width"] == 32


@pytest.mark.slow
def test_a_recipe_override_reaches_the_stage_and_its_run_record(tiny_study, tmp_path):
    """The issue's lost override: `-S backbones.<name>.recipe.<section>.schedule.warmup_epochs`
    must change that backbone's training in that section (and nothing else), as run.json and
    dvc.lock say."""
    repo = tiny_study.clone(tmp_path / "clone")
    # NIN (the tiny study's backbone) with the deep ResNets' recipe, as params.yaml spells it.
    deep = yaml.safe_load((ROOT / "params.yaml").read_text())["backbones"]["resnet101"]["recipe"]
    assert deep["pretrain"] == {"schedule": {"warmup_epochs": 1}}
    assert deep["supervised"] == {"schedule": {"warmup_epochs": 1}}

    def deep_nin(params: dict) -> None:
        params["backbones"]["nin"]["recipe"] = deep
        params["study"]["seeds"] = [0]  # one training run is enough here

    _edit_params(repo, deep_nin)
    key = "backbones.nin.recipe.supervised.schedule.warmup_epochs"
    tiny_study.run(["dvc", "exp", "run", "-S", f"{key}=0.5", "supervised@cifar10-nin"], repo)
    recipe = yaml.safe_load((repo / "params.yaml").read_text())["backbones"]["nin"]["recipe"]
    assert recipe["supervised"] == {"schedule": {"warmup_epochs": 0.5}}
    assert all(recipe[s] == {"schedule": {"warmup_epochs": 1}} for s in recipe if s != "supervised")
    record = json.loads((repo / "models/cifar10/nin/supervised/run.json").read_text())
    assert record["recipe"]["warmup_epochs"] == 0.5
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["supervised@cifar10-nin"]
    assert lock["params"]["params.yaml"]["backbones.nin"]["recipe"]["supervised"]["schedule"]["warmup_epochs"] == 0.5


def test_a_dataset_in_the_readmes_short_form_passes_dvcs_params_check_in_every_stage(tmp_path, needs_dvc):
    """DVC refuses to run a stage whose listed params are missing from params.yaml (robustness
    listed datasets.<name>.corruptions, so a short entry failed after hours of training). This
    runs that very check of DVC's on every stage instance of the committed dvc.yaml and
    params.yaml, with a dataset given as the README shows it; nothing is trained."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["datasets"]["mine"] = {
        "source": "imagefolder",
        "resize": 32,
        "channels": 3,
        "val_size": 500,
    }
    raw["study"].update(datasets=["mine"], backbones=["nin"])  # one backbone: each stage once, as tiny_study
    assert parse_params(raw).dataset("mine").corruptions is None  # the model's defaults apply
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    Repo.init(str(tmp_path), no_scm=True).close()
    with Repo(str(tmp_path)) as repo:
        stages = list(repo.index.stages)
        for stage in stages:
            for dep in stage.deps:
                if isinstance(dep, ParamsDependency):
                    dep.get_hash()  # raises "Parameters '...' are missing from 'params.yaml'"
    names = {stage.name for stage in stages}
    assert {"prepare@mine", "robustness@mine-nin", "semisup@mine-nin", "report"} <= names
