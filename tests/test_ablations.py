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
        "pretrain:\n  rotations: [0, 90, 180, 270]\nbackbones:\n  nin: {blocks: 4, width: 8}\n"
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
    header = "| experiment | rotations | NIN blocks | block1 ours | block1 paper | block2 ours | block2 paper |"
    assert header in out
    # 2 rotations, 4 blocks: Table 2 gives block 2 only (87.46 for 0/180).
    assert "| two-rot | 0/180 | 4 | 43.00 | – | 44.00 | 87.46 | 45.00 | – | 46.00 | – |" in out
    # 4 rotations, 3 blocks: Table 1's 3-block row (85.45, 88.26, 62.09).
    assert "| three-blocks | 0/90/180/270 | 3 | 45.25 | 85.45 | 46.25 | 88.26 | 47.25 | 62.09 | – | – |" in out
    assert out.index("| three-blocks") < out.index("| two-rot")  # ordered by depth, then rotation set
    assert "(baseline)" not in out  # the commit itself has no metrics (never run)


def test_show_from_a_saved_json_and_other_datasets(repo, capsys, monkeypatch, tmp_path):
    saved = tmp_path / "exps.json"
    saved.write_text(_run(["dvc", "exp", "show", "--json"], repo))
    out = _show(capsys, monkeypatch, tmp_path, "--from", str(saved))  # no DVC repo needed
    assert "| two-rot | 0/180 | 4 | 43.00 | – | 44.00 | 87.46 |" in out
    other = _show(capsys, monkeypatch, tmp_path, "--from", str(saved), "--dataset", "fashion_mnist")
    assert "No finished experiment has metrics/runs/fashion_mnist/nin/probe.json yet." in other
    assert "- two-rot: finished, without metrics/runs/fashion_mnist/nin/probe.json" in other
    rows = parse_exp_show(json.loads(saved.read_text()))
    assert {(e.name, e.state, e.rotations, e.blocks) for e in rows if not e.baseline} == {
        ("two-rot", "done", (0, 180), 4),
        ("three-blocks", "done", (0, 90, 180, 270), 3),
    }


def test_queue_dry_run_prints_the_overrides(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no repo needed to print
    main(["ablations", "queue", "--what", "rotations", "--dry-run", "-S", "pretrain.epochs=5"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.startswith("dvc exp run --queue -S ") for line in lines)
    for line, rotations in zip(lines, ["0,90,180,270", "0,45,90,135,180,225,270,315", "0,180", "90,270"], strict=True):
        assert f"-S 'pretrain.rotations=[{rotations}]' -S backbones.nin.blocks=4" in line
        assert line.endswith("-S 'study.backbones=[nin]' -S 'study.datasets=[cifar10]' -S pretrain.epochs=5")
    main(["ablations", "queue", "--what", "depth", "--dry-run", "--whole-study"])
    depth = capsys.readouterr().out.splitlines()
    assert [line.split("blocks=")[1] for line in depth] == ["3", "4", "5"]
    assert all("pretrain.rotations=[0,90,180,270]" in line and "study." not in line for line in depth)
    assert len(variants("all")) == 6  # 4 rotation sets + 3 depths, the shared default once
    assert len(queue_commands("all")) == 6


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
