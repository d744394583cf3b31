"""Several nodes through SLURM: the stage DVC runs on the allocation's first node starts one
srun task per process; each task turns SLURM's variables into torchrun's and runs the stage.

Global rank 0 (the only writer) must be on DVC's node, which is where srun puts task 0 when
`dvc repro` runs on the allocation's first node, as in an sbatch script; task 0 checks it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence

from rotnet.errors import RotnetError
from rotnet.params import DistributedParams
from rotnet.stages.entry import SRUN_TASK, stage_target
from rotnet.stages.table import StageSpec


def srun_argv(cfg: DistributedParams, spec: StageSpec, args: Sequence[str]) -> list[str]:
    return [
        "srun",
        f"--nodes={cfg.nnodes}",
        f"--ntasks-per-node={cfg.nproc_per_node}",
        "--kill-on-bad-exit=1",  # one task failing stops the others: no rank waits forever
        sys.executable,
        *stage_target(spec),
        *args,
    ]


def launch(cfg: DistributedParams, spec: StageSpec, args: Sequence[str]) -> int:
    """Run the stage as srun tasks across the allocation; their exit status."""
    if "SLURM_JOB_ID" not in os.environ:
        raise RotnetError(
            "distributed.launcher srun runs inside a SLURM allocation (sbatch or salloc) and this shell is in none; "
            "submit the sbatch script of docs/operations.md, or use launcher: torchrun"
        )
    if shutil.which("srun") is None:
        raise RotnetError("distributed.launcher srun: no srun on PATH; load the cluster's SLURM module")
    # Rank 0's host: this one. The tasks' process group meets there.
    env = {**os.environ, SRUN_TASK: "1", "MASTER_ADDR": socket.gethostname(), "MASTER_PORT": str(cfg.host_port[1])}
    return subprocess.call(srun_argv(cfg, spec, args), env=env)


def task_env(env: Mapping[str, str]) -> dict[str, str]:
    """torchrun's variables for an srun task (init_world and the process group read them)."""
    try:
        rank, size, local = int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), env["SLURM_LOCALID"]
    except KeyError as err:
        raise RotnetError(f"{SRUN_TASK} is set but {err.args[0]} is not: only srun should set {SRUN_TASK}") from None
    if rank == 0 and socket.gethostname() != env.get("MASTER_ADDR"):
        raise RotnetError(
            f"srun put rank 0, the only writer, on {socket.gethostname()}, not on {env.get('MASTER_ADDR')} where DVC "
            "runs: run dvc repro on the allocation's first node, as sbatch does"
        )
    return {"RANK": str(rank), "WORLD_SIZE": str(size), "LOCAL_RANK": local}
