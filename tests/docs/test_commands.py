"""Every command README.md and docs/*.md show in a bash block is tested: run for real on the tiny study
(it stands in for the study), or, when it takes hours or a GPU, checked as far as it can be without
running it (make -n, the exact arguments through the command's own parser, -S keys through DVC's own
override code and the params schema)."""

from __future__ import annotations

import argparse
import runpy
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import yaml
from PIL import Image

from rotnet import cli, profiles
from rotnet.errors import RotnetError
from rotnet.params import parse_params
from tests.conftest import TOOLS_PATH, tools_env
from tests.docs.commands import REAL_EXP_RUN, ROOT, Command, commands

COMMANDS = commands()
CHECKED = [c for c in COMMANDS if c.kind == "check"]
RUN = [c for c in COMMANDS if c.kind == "run"]
WIDTH = 200  # the terminal `dvc exp show` must fit


def substitute(argv: tuple[str, ...], tmp: Path, exp: str = "exp") -> list[str]:
    """The docs' placeholders made real: an output folder, a data folder, an experiment."""
    real = {"$OUT": str(tmp / "out"), "DIR": str(tmp / "data"), "<exp>": exp}
    return [real.get(arg, arg) for arg in argv]


class _Parsed(Exception):
    """Raised once a command's parser accepted its arguments, before the command does anything."""


def assert_parses(call, argv: list[str]) -> None:
    """`call` hands `argv` to argparse, which accepts them; nothing after the parse runs."""
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed

    with mock.patch.object(argparse.ArgumentParser, "parse_args", parse_then_stop):
        try:
            call()
        except _Parsed:
            return
        except SystemExit as stop:
            assert stop.code == 0 and "--help" in argv, f"{' '.join(argv)}: refused by its parser ({stop.code})"
            return
    raise AssertionError(f"{' '.join(argv)} never parsed its arguments")


def assert_script_parses(argv: list[str]) -> None:
    """`python SCRIPT ARGS...`: the script's own parser accepts ARGS, as when run from the project root."""
    script = ROOT / argv[0]
    assert script.is_file(), f"{argv[0]} does not exist"
    with mock.patch.object(sys, "argv", [str(script), *argv[1:]]), mock.patch.object(sys, "path", list(sys.path)):
        sys.path.insert(0, str(script.parent))
        assert_parses(lambda: runpy.run_path(str(script), run_name="__main__"), argv)


def committed_params(profile: str | None = None) -> dict:
    """params.yaml, with a profile's overrides merged in as `make quick`/`make paper` run it."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    if profile is None:
        return raw
    return profiles.merge(raw, profiles.load_profile(str(ROOT / "profiles" / f"{profile}.yaml")))


def assert_overrides_apply(sets: list[str], tmp: Path, base: dict | None = None, dvc: bool = True) -> None:
    """`-S key=value` through DVC's own override code (or, for a script's `--set`, the project's merge):
    each value lands in the params and they validate."""
    base = committed_params() if base is None else base
    if dvc:
        apply_overrides = pytest.importorskip("dvc.utils.hydra", reason="dvc is a project dependency").apply_overrides
        path = tmp / "params.yaml"
        path.write_text(yaml.safe_dump(base))
        apply_overrides(str(path), sets)
        raw = yaml.safe_load(path.read_text())
    else:
        raw = profiles.merge(base, {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in sets)})
    for item in sets:
        key, value = item.split("=", 1)
        node = raw
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"-S {item}: {key} is not in params.yaml"
            node = node[part]
        assert node == yaml.safe_load(value), f"-S {item}: params.yaml holds {node!r} after DVC applied it"
    parse_params(raw)


def overrides(argv: list[str], flag: str = "-S") -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == flag]


def check(argv: list[str], tmp: Path) -> None:
    """Everything short of running it."""
    if argv[0] == "make":
        variables = dict(a.split("=", 1) for a in argv[1:] if "=" in a)
        done = subprocess.run(["make", "-n", *argv[1:]], cwd=ROOT, env=tools_env(), capture_output=True, text=True)
        assert done.returncode == 0, f"make -n {' '.join(argv[1:])}: {done.stderr}"
        if sets := overrides(shlex.split(variables.get("ARGS", ""))):
            profile = argv[1] if argv[1] in ("quick", "paper") else None
            assert_overrides_apply(sets, tmp, committed_params(profile))
    elif argv[0] == "dvc":
        from dvc.cli import parse_args

        parse_args(argv[1:])  # DVC's own parser: raises on an unknown command or option
        if sets := overrides(argv):
            assert_overrides_apply(sets, tmp)
    elif argv[0] == "rotnet":
        assert_parses(lambda: cli.main(argv[1:]), argv)
    elif argv[0] in ("python", "python3"):
        assert_script_parses(argv[1:])
        if sets := overrides(argv, "--set"):
            assert_overrides_apply(sets, tmp, dvc=False)
    elif argv[0] == "torchrun":
        from torch.distributed.run import get_args_parser

        args = get_args_parser().parse_args(argv[1:])
        assert_script_parses([args.training_script, *args.training_script_args])
    elif argv[0] == "git":  # a git command that exists, and its options as git reads them
        usage = subprocess.run(["git", argv[1], "-h"], capture_output=True, text=True)
        assert f"usage: git {argv[1]}" in usage.stdout + usage.stderr, f"git has no command {argv[1]!r}"
    elif argv[0] == "tensorboard":
        assert shutil.which("tensorboard", path=TOOLS_PATH), "tensorboard is not installed (make install)"
    else:
        raise AssertionError(f"no check for {argv[0]}")


def test_every_command_the_docs_show_is_run_or_checked():
    assert len(COMMANDS) > 20 and {c.doc for c in COMMANDS} >= {"README.md", "docs/experiments.md"}
    uncovered = [c.id for c in COMMANDS if c.kind is None]
    assert not uncovered, f"commands no test covers (add them to tests/docs/commands.py): {uncovered}"
    assert any(c.argv == REAL_EXP_RUN for c in RUN), "the docs no longer show the experiment the run test makes"
    assert any(c.doc == "README.md" and c.argv[:3] == ("dvc", "exp", "show") for c in RUN)


@pytest.mark.parametrize("command", CHECKED, ids=lambda c: c.id)
def test_a_long_command_is_accepted_as_written(command: Command, tmp_path):
    check(substitute(command.argv, tmp_path), tmp_path)


WRONG = (
    ["make", "no-such-target"],
    ["dvc", "exp", "shwo"],
    ["dvc", "exp", "run", "-S", "pretrain.epochz=3"],
    ["dvc", "exp", "run", "-S", "pretrain.epochs=-3"],
    ["rotnet", "predict"],
    ["python3", "benchmarks/gpu_check.py", "--no-such-option"],
    ["torchrun", "--nnodes=2", "stages/pretrain.py", "--datset", "cifar10"],
)


@pytest.mark.parametrize("argv", WRONG, ids=" ".join)
def test_the_checks_refuse_a_wrong_command(argv, tmp_path):
    from dvc.cli import DvcParserError
    from dvc.exceptions import DvcException

    with pytest.raises((AssertionError, RotnetError, DvcException, DvcParserError)):
        check(argv, tmp_path)


def _photos(tiny_study, repo: Path) -> None:
    """The images the docs' rotnet commands name: photos/, a.jpg and b.png."""
    sources = sorted((tiny_study.data / "test").glob("*/*.png"))[::12]
    (repo / "photos").mkdir()
    for i, src in enumerate(sources):
        shutil.copy(src, repo / "photos" / f"{i}.png")
    Image.open(sources[0]).convert("RGB").save(repo / "a.jpg")
    shutil.copy(sources[1], repo / "b.png")


@pytest.mark.slow
def test_the_docs_commands_run_on_the_tiny_study(tiny_study, tmp_path, monkeypatch, capsys):
    repo = tiny_study.clone(tmp_path / "study")
    _photos(tiny_study, repo)
    tiny_study.run(list(REAL_EXP_RUN), repo)  # the first: gives `dvc exp show` an experiment row
    exp = tiny_study.run(["dvc", "exp", "list", "--name-only"], repo).split()[0]
    monkeypatch.chdir(repo)
    done = {REAL_EXP_RUN}
    for command in RUN:
        if command.argv in done:
            continue
        done.add(command.argv)
        argv = substitute(command.argv, tmp_path, exp)
        if argv[0] == "rotnet":
            cli.main(argv[1:])
            out = capsys.readouterr().out
        else:
            ran = subprocess.run(argv, cwd=repo, env=tools_env(COLUMNS="1000"), capture_output=True, text=True)
            assert ran.returncode == 0, f"{command.id} failed:\n{ran.stdout}\n{ran.stderr}"
            out = ran.stdout
        if argv[:3] == ["dvc", "exp", "show"]:
            widest = max(len(line.rstrip()) for line in out.splitlines())
            assert widest <= WIDTH, f"{command.id}: {widest} columns wide\n{out}"
            assert "Experiment" in out and exp in out and "cifar10.nin.supervised" in out, out
        if argv[:2] == ["rotnet", "stages"]:
            assert "| `pretrain` |" in out
        if argv[:3] == ["dvc", "plots", "show"]:
            html = (repo / "dvc_plots" / "index.html").read_text()
            assert "supervised_history.csv" in html and "val_acc" in html
    # Two experiments' curves side by side: the page names both revisions.
    tiny_study.run(["dvc", "plots", "diff", "HEAD", exp, "-o", str(tmp_path / "diff")], repo)
    page = (tmp_path / "diff" / "index.html").read_text()
    assert "HEAD" in page and exp in page and "supervised_history.csv" in page
    assert (repo / "preds.csv").is_file() and (repo / "upright" / "orientation.csv").is_file()
