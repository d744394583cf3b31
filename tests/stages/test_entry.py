"""How every stage starts (rotnet.stages.entry): arguments from the stage table, params read,
torchrun started when params ask for more processes, input errors printed without a traceback."""

from __future__ import annotations

import argparse
import os
import sys

import pytest
import yaml

from rotnet.errors import RotnetError
from rotnet.params import DistributedParams
from rotnet.stages.entry import CHECKOUT, SRUN_TASK, add_stage_args, call_stage, stage_main, torchrun_argv
from rotnet.stages.table import BY_NAME, StageSpec


def _parse(spec: StageSpec, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_stage_args(parser, spec)
    return parser.parse_args(argv)


def test_each_stage_takes_the_arguments_its_table_row_names():
    assert vars(_parse(BY_NAME["report"], [])) == {"params": "params.yaml"}
    assert vars(_parse(BY_NAME["prepare"], ["--dataset", "d"])) == {"params": "params.yaml", "dataset": "d"}
    finetune = _parse(BY_NAME["finetune"], ["--dataset", "d", "--backbone", "b", "--params", "p.yaml"])
    assert vars(finetune) == {"params": "p.yaml", "dataset": "d", "backbone": "b", "head": None}
    with pytest.raises(SystemExit):  # --backbone is required where the row is per backbone
        _parse(BY_NAME["pretrain"], ["--dataset", "d"])


def test_the_run_gets_the_params_and_where_to_run(tmp_path):
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"runtime": {"device": "cpu"}}))
    spec = BY_NAME["pretrain"]
    argv = ["--params", str(tmp_path / "p.yaml"), "--dataset", "d", "--backbone", "b"]
    calls = []
    call_stage(spec, lambda params, **where: calls.append((params.runtime.device, where)), _parse(spec, argv), argv)
    assert calls == [("cpu", {"dataset": "d", "backbone": "b"})]


def test_an_input_error_exits_with_2_and_its_message_alone(tmp_path, capsys):
    (tmp_path / "p.yaml").write_text("{}\n")

    def fails(params, dataset):
        raise RotnetError(f"dataset '{dataset}' is wrong; fix it")

    with pytest.raises(SystemExit) as exit_:
        stage_main(BY_NAME["prepare"], fails, ["--params", str(tmp_path / "p.yaml"), "--dataset", "x"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: dataset 'x' is wrong; fix it\n"

    def bug(params, dataset):
        raise KeyError("a bug")  # not an input error: a traceback, for the developer

    with pytest.raises(KeyError):
        stage_main(BY_NAME["prepare"], bug, ["--params", str(tmp_path / "p.yaml"), "--dataset", "x"])


def test_bad_params_are_an_input_error(tmp_path, capsys):
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"pretrain": {"rotations": [0, 30]}}))
    with pytest.raises(SystemExit) as exit_:
        stage_main(
            BY_NAME["prepare"], lambda params, dataset: None, ["--params", str(tmp_path / "p.yaml"), "--dataset", "x"]
        )
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid parameters in") and "pretrain.rotations" in err


def test_torchrun_runs_this_checkouts_script_with_the_params_processes():
    cfg = DistributedParams(nproc_per_node=2, nnodes=1, rdzv_endpoint="localhost:29500")
    argv = torchrun_argv(cfg, BY_NAME["probe"], ["--dataset", "d", "--backbone", "b"])
    assert argv[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc_per_node=2" in argv and "--nnodes=1" in argv and "--rdzv_endpoint=localhost:29500" in argv
    assert argv[-5:] == [str(CHECKOUT / "stages" / "probe.py"), "--dataset", "d", "--backbone", "b"]
    # Installed without the checkout's stages/ (a wheel): the module instead.
    ghost = StageSpec("no_such_stage", "x")
    assert torchrun_argv(cfg, ghost, [])[-2:] == ["-m", "rotnet.stages.no_such_stage"]


def test_more_processes_start_torchrun_and_exit_with_its_status(tmp_path, monkeypatch):
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"distributed": {"nproc_per_node": 2}}))
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    started = []
    monkeypatch.setattr("rotnet.stages.entry.subprocess.call", lambda cmd: started.append(cmd) or 3)
    spec = BY_NAME["pretrain"]
    argv = ["--params", str(tmp_path / "p.yaml"), "--dataset", "d", "--backbone", "b"]
    with pytest.raises(SystemExit) as exit_:
        call_stage(spec, lambda params, **where: pytest.fail("ran in the launcher"), _parse(spec, argv), argv)
    assert exit_.value.code == 3 and started[0][-len(argv) :] == argv and "--nproc_per_node=2" in started[0]
    # A worker torchrun started (LOCAL_RANK set) runs the stage itself.
    monkeypatch.setenv("LOCAL_RANK", "0")
    ran = []
    call_stage(spec, lambda params, **where: ran.append(where), _parse(spec, argv), argv)
    assert ran == [{"dataset": "d", "backbone": "b"}]


def test_across_nodes_the_stage_leads_the_workers_or_srun_its_tasks(tmp_path, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv(SRUN_TASK, raising=False)
    spec = BY_NAME["pretrain"]
    argv = ["--params", str(tmp_path / "p.yaml"), "--dataset", "d", "--backbone", "b"]
    started = []
    monkeypatch.setattr(
        "rotnet.stages.nodes.lead", lambda cfg, spec, args, params: started.append(("lead", params)) or 4
    )
    monkeypatch.setattr("rotnet.stages.slurm.launch", lambda cfg, spec, args: started.append(("srun", args)) or 5)
    for launcher, code in (("torchrun", 4), ("srun", 5)):
        dist = {"nnodes": 2, "rdzv_backend": "static", "launcher": launcher}
        (tmp_path / "p.yaml").write_text(yaml.safe_dump({"distributed": dist}))
        with pytest.raises(SystemExit) as exit_:
            call_stage(spec, lambda params, **where: pytest.fail("ran in the launcher"), _parse(spec, argv), argv)
        assert exit_.value.code == code
    assert started == [("lead", tmp_path / "p.yaml"), ("srun", argv)]
    # A task srun started runs the stage, as torchrun's processes do, with torchrun's variables.
    for key, value in {SRUN_TASK: "1", "SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_LOCALID": "0"}.items():
        monkeypatch.setenv(key, value)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):  # set, then unset: the test's end removes what the run sets
        monkeypatch.setenv(key, "x")
        monkeypatch.delenv(key)
    ran = []
    call_stage(
        spec,
        lambda params, **where: ran.append("/".join(os.environ[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))),
        _parse(spec, argv),
        argv,
    )
    assert ran == ["1/2/0"]
