"""`rotnet ablations`: queue the paper's ablations, show finished DVC experiments beside its tables.

`show` runs against a real throwaway git + DVC repo whose one stage writes the probe
metrics from the params (no training), so the JSON parsed is what DVC really emits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rotnet import ablations
from rotnet.ablations import parse_exp_show, queue_commands, variants
from rotnet.cli import main
from tests.conftest import tools_env

pytestmark = pytest.mark.usefixtures("needs_dvc")

ID = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
# The fake probe: block i of a NIN trained on r rotations "scores" 40 + len(r) + i (+ 0.25 with 3 blocks).
STAGE = (
    "import json, os, yaml; p = yaml.safe_load(open('params.yaml')); n = p['backbones']['nin']['blocks']; "
    "r = p['pretrain']['rotations']; os.makedirs('metrics/runs/cifar10/nin', exist_ok=True); "
    "acc = lambda i: 40.0 + len(r) + i + (0.25 if n == 3 else 0.0); "
    "json.dump({'layers': {f'block{i}': {'nonlinear': {'val_acc': 1.0, 'test_acc': acc(i)}, "
    "'linear': {'val_acc': 1.0, 'test_acc': 2.0}} for i in range(1, n + 1)}}, "
    "open('metrics/runs/cifar10/nin/probe.json', 'w'))"
)


def _run(cmd: list[str], cwd: Path) -> str:
    env = tools_env(**ID, DVC_NO_ANALYTICS="1")
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{cmd}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A git + DVC repo with two finished experiments: 2 rotations; 3 blocks."""
    root = tmp_path_factory.mktemp("ablations")
    (root / "params.yaml").write_text(
        "pretrain:\n  rotations: [0, 90, 180, 270]\n  mask: auto\nbackbones:\n  nin: {blocks: 4, width: 8}\n"
    )
    stage = {
        "cmd": f"{json.dumps(sys.executable)} -c {json.dumps(STAGE)}",
        "params": ["pretrain.rotations", "backbones.nin.blocks"],
        "metrics": [{"metrics/runs/cifar10/nin/probe.json": {"cache": False}}],
    }
    (root / "dvc.yaml").write_text(json.dumps({"stages": {"probe": stage}}))  # JSON is YAML
    _run(["git", "init", "-q"], root)
    _run(["dvc", "init", "-q"], root)
    _run(["git", "add", "-A"], root)
    _run(["git", "commit", "-qm", "fake study"], root)
    for name, rotations, blocks in [("two-rot", "0,180", 4), ("three-blocks", "0,90,180,270", 3)]:
        # A workspace run leaves its params in params.yaml: set both each time.
        sets = ["-S", f"pretrain.rotations=[{rotations}]", "-S", f"backbones.nin.blocks={blocks}"]
        _run(["dvc", "exp", "run", "-q", "-n", name, *sets], root)
    return root


def _show(capsys, monkeypatch, cwd: Path, *extra: str) -> str:
    monkeypatch.chdir(cwd)
    main(["ablations", "show", *extra])
    return capsys.readouterr().out


def test_show_puts_each_experiment_beside_the_papers_figures(repo, capsys, monkeypatch):
    out = _show(capsys, monkeypatch, repo)
    header = "| experiment | rotations | mask | NIN blocks | block1 ours | block1 paper | block2 ours | block2 paper |"
    assert header in out
    # 2 rotations, 4 blocks: Table 2 gives block 2 only (87.46 for 0/180); nothing else changed.
    assert "| two-rot | 0/180 | none | 4 | 43.00 | – | 44.00 | 87.46 | 45.00 | – | 46.00 | – | – |" in out
    # 4 rotations, 3 blocks: Table 1's 3-block row (85.45, 88.26, 62.09).
    three = "| three-blocks | 0/90/180/270 | none | 3 | 45.25 | 85.45 | 46.25 | 88.26 | 47.25 | 62.09 | – | – | – |"
    assert three in out
    assert out.index("| three-blocks") < out.index("| two-rot")  # ordered by depth, then rotation set
    assert "(baseline)" not in out  # the commit itself has no metrics (never run)


def test_show_from_a_saved_json_and_other_datasets(repo, capsys, monkeypatch, tmp_path):
    saved = tmp_path / "exps.json"
    saved.write_text(_run(["dvc", "exp", "show", "--json"], repo))
    out = _show(capsys, monkeypatch, tmp_path, "--from", str(saved))  # no DVC repo needed
    assert "| two-rot | 0/180 | none | 4 | 43.00 | – | 44.00 | 87.46 |" in out
    other = _show(capsys, monkeypatch, tmp_path, "--from", str(saved), "--dataset", "fashion_mnist")
    assert "No finished experiment has metrics/runs/fashion_mnist/nin/probe.json yet." in other
    assert "- two-rot: finished, without metrics/runs/fashion_mnist/nin/probe.json" in other
    rows = parse_exp_show(json.loads(saved.read_text()))
    assert {(e.name, e.state, e.rotations, e.blocks) for e in rows if not e.baseline} == {
        ("two-rot", "done", (0, 180), 4),
        ("three-blocks", "done", (0, 90, 180, 270), 3),
    }


# --- a hand-written `dvc exp show --json` (DVC 3.x's shape): which experiments are ablations --

BASE = {
    "pretrain": {"rotations": [0, 90, 180, 270], "mask": "auto", "epochs": 200},
    "backbones": {"nin": {"blocks": 4, "width": 192}},
    "supervised": {"optimizer": {"name": "sgd", "lr": 0.1}},
    "runtime": {"micro_batch": None},
    "study": {"backbones": ["nin", "resnet18"], "datasets": ["cifar10", "fashion_mnist"]},
}
NIN_ONLY = {"study": {"backbones": ["nin"], "datasets": ["cifar10"]}}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base.get(k, {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def _probe(acc: float, view: float | None = None) -> dict:
    layers = {f"block{i}": {"nonlinear": {"val_acc": 1.0, "test_acc": acc + i}} for i in (1, 2)}
    out = {"best": {"layer": "block2", "head": "nonlinear", "test_acc": acc + 2}, "layers": layers}
    if view is not None:
        out["rotnet_view"] = {"layers": {b: {"nonlinear": {"test_acc": view + i}} for i, b in enumerate(layers, 1)}}
    return out


def _rev(name: str, params: dict, probe: dict | None) -> dict:
    metrics = {} if probe is None else {"metrics/runs/cifar10/nin/probe.json": {"data": probe}}
    data = {"rev": name, "timestamp": None, "params": {"params.yaml": {"data": params}}, "metrics": metrics}
    return {"rev": name, "name": name, "data": {**data, "deps": {}, "outs": {}, "meta": {}}, "error": None}


def _exp_show(experiments: dict[str, tuple[dict, dict | None]]) -> list[dict]:
    commit = {**_rev("main", BASE, None), "experiments": []}
    for name, (over, probe) in experiments.items():
        commit["experiments"].append({"revs": [_rev(name, _merge(BASE, over), probe)], "executor": None, "name": name})
    return [{**_rev("workspace", BASE, None), "experiments": None}, commit]


def _ablation_rows() -> list[dict]:
    eight = list(range(0, 360, 45))
    return _exp_show(
        {
            "eight": (_merge(NIN_ONLY, {"pretrain": {"rotations": eight}}), _probe(80.0, view=82.0)),
            "four-masked": (_merge(NIN_ONLY, {"pretrain": {"mask": "circle"}}), _probe(81.0, view=83.0)),
            "five-blocks-quick": (
                _merge(NIN_ONLY, {"backbones": {"nin": {"blocks": 5}}, "pretrain": {"epochs": 3}}),
                _probe(70.0),
            ),
            "recipe-run": ({"supervised": {"optimizer": {"name": "rangerlars", "lr": 0.002}}}, _probe(60.0)),
            "micro-batch": ({"runtime": {"micro_batch": 32}}, _probe(61.0)),
            "many": (
                {
                    "pretrain": {"rotations": [0, 180], "epochs": 1},
                    "probe": {"epochs": 1, "hidden": 8},
                    "runtime": {"micro_batch": 16},
                },
                _probe(50.0),
            ),
        }
    )


def test_show_lists_only_experiments_that_vary_an_ablation_key_and_says_what_else_differs():
    out = ablations.render(parse_exp_show(_ablation_rows()))
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    names = [r.split(" | ")[0][2:] for r in rows[1:]]
    assert names == ["eight", "four-masked", "many", "five-blocks-quick"]  # by depth, then the variants' order
    assert not any(n in ("recipe-run", "micro-batch") for n in names)  # they vary no ablation key
    header = rows[0]
    assert "| mask | NIN blocks |" in header and "| block2 ours, masked input |" in header
    assert header.endswith("| other changes |")
    # The eight: Table 2's figure, marked as our construction; both probes (as they are, masked input).
    eight = "| eight | 0/45/90/135/180/225/270/315 * | circle | 4 | 81.00 | 83.00 | – | 82.00 | 84.00 | 88.51 | – |"
    assert eight in out
    # The masked four: no paper figure (the paper never masked them).
    assert "| four-masked | 0/90/180/270 | circle | 4 | 82.00 | 84.00 | – | 83.00 | 85.00 | – | – |" in out
    # What else differs from the base, briefly; the study selection every ablation sets is not news.
    assert "| five-blocks-quick | 0/90/180/270 | none | 5 |" in out and out.count("pretrain.epochs=3") == 1
    assert "| pretrain.epochs=1, probe.epochs=1, probe.hidden=8 (+1 more) |" in out  # 4 others: 3 named
    assert "study.backbones" not in out.split("\n- ")[0]
    assert "* this project's construction: the official code refuses angles that are not multiples of 90" in out
    # Non-ablations are named once, with what they changed, under the table.
    notes = [line for line in out.splitlines() if line.startswith("- not ablations")]
    assert len(notes) == 1
    assert "recipe-run (supervised.optimizer.lr=0.002, supervised.optimizer.name=rangerlars)" in notes[0]
    assert "micro-batch (runtime.micro_batch=32)" in notes[0]


def test_show_counts_a_missing_ablation_key_as_its_default():
    """A commit from before pretrain.mask existed: an experiment setting mask=auto varies nothing."""
    old_base = {k: v for k, v in BASE.items()}
    old_base["pretrain"] = {"rotations": [0, 90, 180, 270], "epochs": 200}
    rows = _exp_show({"auto": ({"pretrain": {"mask": "auto"}, "runtime": {"micro_batch": 8}}, _probe(1.0))})
    rows[1]["data"]["params"]["params.yaml"]["data"] = old_base
    [base, exp] = parse_exp_show(rows)
    assert base.baseline and exp.changes == {"runtime.micro_batch": 8} and not exp.ablation
    rows[1]["experiments"][0]["revs"][0]["data"]["params"]["params.yaml"]["data"]["pretrain"]["mask"] = "circle"
    [_, exp] = parse_exp_show(rows)
    assert exp.ablation and exp.changes == {"pretrain.mask": "circle", "runtime.micro_batch": 8}


def test_queue_dry_run_prints_the_overrides(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no repo needed to print
    main(["ablations", "queue", "--what", "rotations", "--dry-run", "-S", "pretrain.epochs=5"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(line.startswith("dvc exp run --queue -S ") for line in lines)
    eight = "0,45,90,135,180,225,270,315"
    sets = ["0,90,180,270", eight, "0,90,180,270", "0,180", "90,270"]
    masks = ["auto", "auto", "circle", "auto", "auto"]  # the masked four beside the (masked) eight
    for line, rotations, mask in zip(lines, sets, masks, strict=True):
        assert f"-S 'pretrain.rotations=[{rotations}]' -S pretrain.mask={mask} -S backbones.nin.blocks=4" in line
        assert line.endswith("-S 'study.backbones=[nin]' -S 'study.datasets=[cifar10]' -S pretrain.epochs=5")
    main(["ablations", "queue", "--what", "depth", "--dry-run", "--whole-study"])
    depth = capsys.readouterr().out.splitlines()
    assert [line.split("blocks=")[1] for line in depth] == ["3", "4", "5"]
    assert all("pretrain.rotations=[0,90,180,270]" in line and "study." not in line for line in depth)
    assert len(variants("all")) == 7  # 4 rotation sets + the masked four + 3 depths, the shared default once
    assert len(queue_commands("all")) == 7


def test_queue_runs_dvc_in_the_repo_and_show_lists_queued_ones(repo, capsys, monkeypatch):
    """(Last in this file: it adds a queued experiment to the shared repo.)"""
    monkeypatch.chdir(repo)
    monkeypatch.setattr(ablations, "variants", lambda what: [ablations.Variant((0, 90), 5)])  # one: dvc is slow
    main(["ablations", "queue", "--whole-study"])
    out = capsys.readouterr().out
    assert out.count("dvc exp run --queue") == 1 and "dvc queue start -j 2" in out
    shown = _show(capsys, monkeypatch, repo)
    queued = [line for line in shown.splitlines() if line.endswith(": queued")]
    assert len(queued) == 1 and "| two-rot |" in shown  # not finished: listed under the table, not in it
    assert "| 0/90 |" not in shown


@pytest.mark.parametrize("action", [["show"], ["queue"]])
def test_clear_errors_outside_a_dvc_repo_and_without_dvc(capsys, monkeypatch, tmp_path, action):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["ablations", *action])
    assert exit_.value.code == 2
    assert "is not inside a DVC repository" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path))  # no dvc on it...
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # ...nor beside the interpreter
    with pytest.raises(SystemExit):
        main(["ablations", *action])
    assert "dvc is not installed" in capsys.readouterr().err
