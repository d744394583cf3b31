"""Several nodes through SLURM (rotnet.stages.slurm): the srun command, SLURM's variables as
torchrun's, rank 0 kept on DVC's node, and a stage run by a fake srun as 2 nodes x 1 process."""

from __future__ import annotations

import json
import os
import socket
import sys

import pytest
import yaml

from rotnet.data.prepared import save_prepared
from rotnet.errors import RotnetError
from rotnet.params import DistributedParams
from rotnet.stages import slurm
from rotnet.stages.entry import CHECKOUT, SRUN_TASK, stage_main
from rotnet.stages.table import BY_NAME
from tests.stages.test_nodes import free_port_pair
from tests.synthetic import dataset

ARGS = ["--dataset", "cifar10", "--backbone", "nin"]

# srun as a laptop would play it: every task here, with the variables SLURM gives each.
FAKE_SRUN = """#!{python}
import os, subprocess, sys
args = sys.argv[1:]
opts = {{}}
while args[0].startswith("--"):
    key, _, value = args.pop(0)[2:].partition("=")
    opts[key] = value
nodes, per_node = int(opts["nodes"]), int(opts["ntasks-per-node"])
tasks = [
    subprocess.Popen(args, env={{**os.environ, "SLURM_PROCID": str(n * per_node + i),
                                "SLURM_NTASKS": str(nodes * per_node), "SLURM_LOCALID": str(i)}})
    for n in range(nodes)
    for i in range(per_node)
]
sys.exit(max(t.wait() for t in tasks))
"""


def test_srun_starts_a_task_per_process_of_this_checkouts_script():
    cfg = DistributedParams(nnodes=2, nproc_per_node=4, launcher="srun")
    argv = slurm.srun_argv(cfg, BY_NAME["pretrain"], ["--dataset", "d"])
    assert argv[:4] == ["srun", "--nodes=2", "--ntasks-per-node=4", "--kill-on-bad-exit=1"]
    assert argv[4:] == [sys.executable, str(CHECKOUT / "stages/pretrain.py"), "--dataset", "d"]


def test_srun_outside_an_allocation_is_refused(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with pytest.raises(RotnetError, match="inside a SLURM allocation"):
        slurm.launch(DistributedParams(nnodes=2, launcher="srun"), BY_NAME["pretrain"], [])


def test_a_task_gets_torchruns_variables_and_rank_0_must_be_on_dvcs_node():
    here = socket.gethostname()
    env = {"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "MASTER_ADDR": "elsewhere"}
    assert slurm.task_env(env) == {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}
    with pytest.raises(RotnetError, match="run dvc repro on the allocation's first node, as sbatch does"):
        slurm.task_env({**env, "SLURM_PROCID": "0"})
    assert slurm.task_env({**env, "SLURM_PROCID": "0", "MASTER_ADDR": here})["RANK"] == "0"
    with pytest.raises(RotnetError, match="SLURM_PROCID"):
        slurm.task_env({"SLURM_NTASKS": "2"})


@pytest.mark.slow
def test_a_stage_runs_as_srun_tasks_on_two_nodes(tmp_path, monkeypatch):
    data = dataset(n_train=120, n_val=40, n_test=40, classes=4, size=16)
    splits = {"train": data.train, "val": data.val, "test": data.test}
    save_prepared(tmp_path / "data/prepared/cifar10", splits, data.meta)
    params = {
        "study": {"datasets": ["cifar10"], "backbones": ["nin"]},
        "runtime": {"device": "cpu"},
        "backbones": {"nin": {"width": 8, "blocks": 3}},
        "supervised": {"epochs": 1, "batch_size": 40, "schedule": {"milestones": []}},
        "distributed": {"nnodes": 2, "launcher": "srun", "rdzv_endpoint": f"localhost:{free_port_pair()}"},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "srun").write_text(FAKE_SRUN.format(python=sys.executable))
    (bin_ / "srun").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    for key in ("LOCAL_RANK", SRUN_TASK):
        monkeypatch.delenv(key, raising=False)
    # This process is the stage DVC started on the allocation's first node; srun's tasks train.
    with pytest.raises(SystemExit) as exit_:
        stage_main(BY_NAME["supervised"], lambda params, **where: pytest.fail("trained in the launcher"), ARGS)
    assert exit_.value.code == 0
    run = json.loads((tmp_path / "models/cifar10/nin/supervised/run.json").read_text())
    assert run["processes"] == 2  # one process per "node", rank 0 the writer
