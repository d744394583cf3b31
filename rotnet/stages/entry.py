"""How every stage starts: arguments from the table, params, torchrun when asked, and
errors caused by input printed without a traceback (exit status 2)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rotnet.errors import RotnetError
from rotnet.params import DistributedParams, Params, load_params
from rotnet.stages.table import StageSpec

CHECKOUT = Path(__file__).resolve().parents[2]
SRUN_TASK = "ROTNET_SRUN_TASK"  # set by the srun launcher: its tasks run the stage, never relaunch it


def add_stage_args(parser: argparse.ArgumentParser, spec: StageSpec) -> None:
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    if spec.per_dataset:
        parser.add_argument("--dataset", required=True, help="dataset name, a key of params.yaml's datasets")
    if spec.per_backbone:
        parser.add_argument("--backbone", required=True, help="backbone name, see `rotnet backbones`")
    if spec.per_method:
        parser.add_argument("--method", required=True, help="a method of study.methods (simclr, byol)")
    if spec.per_head:
        parser.add_argument("--head", help="one head of finetune.heads (default: each of them in turn)")


def stage_target(spec: StageSpec, checkout: Path = CHECKOUT) -> list[str]:
    """How a launcher names the stage: this checkout's script when there is one (the code
    dvc.lock hashes), else the module."""
    script = checkout / spec.script
    return [str(script)] if script.is_file() else ["-m", spec.module]


def torchrun_argv(
    cfg: DistributedParams,
    spec: StageSpec,
    args: Sequence[str],
    node_rank: int = 0,
    master: str | None = None,
    checkout: Path = CHECKOUT,
) -> list[str]:
    """The torchrun command that runs this stage with the processes params ask for.
    Across nodes the rendezvous is static: node ``node_rank`` joins ``master`` (default: the
    endpoint's host), and node 0, DVC's, holds global rank 0."""
    host, port = cfg.host_port
    if cfg.rdzv_backend == "static":
        rdzv = ["--rdzv_backend=static", f"--master_addr={master or host}", f"--master_port={port}"]
    else:
        rdzv = [f"--rdzv_backend={cfg.rdzv_backend}", f"--rdzv_endpoint={cfg.rdzv_endpoint}"]
        rdzv.append(f"--rdzv_id={cfg.rdzv_id}")
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nnodes={cfg.nnodes}",
        f"--nproc_per_node={cfg.nproc_per_node}",
        f"--node_rank={node_rank}",
        *rdzv,
        *stage_target(spec, checkout),
        *args,
    ]


def call_stage(spec: StageSpec, run: Callable[..., Any], args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Run a parsed stage command; more processes asked for: start them (torchrun on this node,
    with `rotnet worker`s on the others, or srun), and exit with their status."""
    params: Params = load_params(args.params)
    cfg = params.distributed
    if spec.distributed and cfg.world_size > 1 and "LOCAL_RANK" not in os.environ:
        if SRUN_TASK in os.environ:  # a task srun started: torchrun's variables from SLURM's
            from rotnet.stages.slurm import task_env

            os.environ.update(task_env(os.environ))
        elif cfg.launcher == "srun":
            from rotnet.stages.slurm import launch

            sys.exit(launch(cfg, spec, argv))
        elif cfg.nnodes > 1:
            from rotnet.stages.nodes import lead

            sys.exit(lead(cfg, spec, argv, Path(args.params)))
        else:
            sys.exit(subprocess.call(torchrun_argv(cfg, spec, argv)))
    where = {k: getattr(args, k) for k in ("dataset", "backbone", "method", "head") if hasattr(args, k)}
    run(params, **where)


def stage_main(spec: StageSpec, run: Callable[..., Any], argv: Sequence[str] | None = None) -> None:
    """The entry point of ``stages/<name>.py`` and ``python -m rotnet.stages.<name>``."""
    parser = argparse.ArgumentParser(prog=spec.script, description=spec.help)
    add_stage_args(parser, spec)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        call_stage(spec, run, args, argv)
    except RotnetError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
