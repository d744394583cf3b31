"""rotnet/cli.py: the `rotnet` command. Its stage commands come from the table (a stage
added there is a command with no CLI edit), parse as the stage scripts do, and an input
error ends with its message and exit status 2, not a traceback."""

import argparse
import re
import sys
import types

import pytest

from rotnet import cli
from rotnet.errors import RotnetError
from rotnet.stages import entry
from rotnet.stages.table import STAGES, StageSpec
from tests.conftest import REPO_ROOT

PARAMS = str(REPO_ROOT / "params.yaml")


def _argv(spec: StageSpec) -> list[str]:
    argv = ["--params", PARAMS]
    argv += ["--dataset", "cifar10"] if spec.per_dataset else []
    argv += ["--backbone", "nin"] if spec.per_backbone else []
    argv += ["--method", "simclr"] if spec.per_method else []
    argv += ["--head", "conv"] if spec.per_head else []
    return argv


@pytest.fixture
def called(monkeypatch):
    """What the CLI hands to entry.call_stage, instead of running the stage."""
    calls = []
    monkeypatch.setattr(cli, "call_stage", lambda spec, run, args, argv: calls.append((spec, run, args, argv)))
    return calls


def test_every_stage_of_the_table_is_a_command_parsed_as_its_script_parses_it(called, capsys):
    for spec in STAGES:
        with pytest.raises(SystemExit) as done:
            cli.main([spec.name, "--help"])
        shown = capsys.readouterr().out
        assert done.value.code == 0 and " ".join(spec.help.split()[:3]) in " ".join(shown.split())
        cli.main([spec.name, *_argv(spec)])
        got_spec, run, args, argv = called.pop()
        assert got_spec is spec and run.__module__ == spec.module and run.__name__ == "run"
        assert argv == _argv(spec)  # what torchrun would pass on to the stage script
        script = argparse.ArgumentParser()
        entry.add_stage_args(script, spec)
        assert {k: v for k, v in vars(args).items() if k != "command"} == vars(script.parse_args(argv))


def test_a_stage_added_to_the_table_is_a_command_that_runs(monkeypatch, tmp_path):
    """A new row and its module suffice: the CLI reads the table, not a list of its own."""
    ran = []
    module = types.ModuleType("rotnet.stages.tiny_new")
    module.run = lambda params, **where: ran.append((params.study.seeds, where))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    spec = StageSpec("tiny_new", "a stage only this test knows", per_backbone=True)
    monkeypatch.setattr(cli, "STAGES", (*STAGES, spec))
    monkeypatch.setattr(cli, "BY_NAME", {**cli.BY_NAME, spec.name: spec})
    cli.main(["tiny_new", "--params", PARAMS, "--dataset", "mine", "--backbone", "resnet18"])
    (seeds, where), = ran  # fmt: skip
    assert where == {"dataset": "mine", "backbone": "resnet18"} and seeds


def test_a_stage_runner_is_looked_up_in_the_table():
    assert cli.stage_runner("report").__module__ == "rotnet.stages.report"
    with pytest.raises(KeyError):
        cli.stage_runner("nope")


def test_a_stage_input_error_exits_2_with_its_message(monkeypatch, capsys):
    def fails(params, **where):
        raise RotnetError(f"no prepared data for {where['dataset']}; run the prepare stage first")

    monkeypatch.setattr(cli, "stage_runner", lambda name: fails)
    with pytest.raises(SystemExit) as done:
        cli.main(["supervised", "--params", PARAMS, "--dataset", "cifar10", "--backbone", "nin"])
    assert done.value.code == 2
    assert capsys.readouterr().err == "error: no prepared data for cifar10; run the prepare stage first\n"


def test_a_missing_stage_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["supervised", "--dataset", "cifar10"])
    assert done.value.code == 2 and "--backbone" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("output", "message"),
    [("folder", r"--output .* is a folder; give a file name"), ("file", r"already exists; pass --overwrite")],
)
def test_predict_refuses_an_output_it_would_clobber_before_loading_anything(tmp_path, capsys, output, message):
    target = tmp_path / "out"
    target.mkdir() if output == "folder" else target.write_text("earlier predictions")
    with pytest.raises(SystemExit) as done:
        cli.main(["predict", str(tmp_path / "absent.pt"), str(tmp_path), "--output", str(target), "--device", "cpu"])
    assert done.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert output == "folder" or target.read_text() == "earlier predictions"
