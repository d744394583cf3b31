"""The `rotnet` command and the shared entry point of the stage scripts."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rotnet.errors import RotnetError
from rotnet.params import Params, load_params

StageFn = Callable[..., Any]


def _stage_functions() -> dict[str, tuple[StageFn, bool]]:
    # Imported lazily: `rotnet --help` should not pay for importing torch.
    from rotnet.data.stage import run_prepare
    from rotnet.probing.probe import run_probe
    from rotnet.report.build import run_report
    from rotnet.training.finetune import run_finetune
    from rotnet.training.pretrain import run_pretrain
    from rotnet.training.small_input import run_small_input
    from rotnet.training.supervised import run_supervised

    return {
        "prepare": (run_prepare, False),
        "supervised": (run_supervised, True),
        "pretrain": (run_pretrain, True),
        "probe": (run_probe, True),
        "finetune": (run_finetune, True),
        "small_input": (run_small_input, False),
        "report": (run_report, False),
    }


STAGES = ("prepare", "supervised", "pretrain", "probe", "finetune", "small_input", "report")
HELP = {
    "prepare": "download or read a dataset and write data/prepared/<dataset>",
    "supervised": "train a backbone on the labels",
    "pretrain": "RotNet rotation pretraining of a backbone",
    "probe": "train heads on every frozen feature map of the pretrained backbone",
    "finetune": "train the whole pretrained backbone with a fresh classifier on the labels",
    "small_input": "compare the ways a large-image backbone can see small images (accuracy, images/s)",
    "report": "aggregate all metrics into metrics/report.{md,csv,png}",
}


def _add_stage_args(parser: argparse.ArgumentParser, stage: str) -> None:
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    if stage in ("prepare", "supervised", "pretrain", "probe", "finetune", "small_input"):
        parser.add_argument("--dataset", required=True, help="dataset name, a key of params.yaml's datasets")
    if stage in ("supervised", "pretrain", "probe", "finetune"):
        parser.add_argument("--backbone", required=True, help="backbone name, see `rotnet backbones`")


TRAINING = ("supervised", "pretrain", "probe", "finetune")


def _call(stage: str, args: argparse.Namespace, script: str | None = None, argv: Sequence[str] = ()) -> None:
    params: Params = load_params(args.params)
    procs = params.distributed.world_size
    if script and stage in TRAINING and procs > 1 and "LOCAL_RANK" not in os.environ:
        # More processes asked for: let torchrun start them, each running this same command.
        from rotnet.training.distributed import torchrun_argv

        sys.exit(subprocess.call(torchrun_argv(params.distributed, script, list(argv))))
    fn, needs_backbone = _stage_functions()[stage]
    if stage == "report":
        fn(params)
    elif needs_backbone:
        fn(params, args.dataset, args.backbone)
    else:
        fn(params, args.dataset)


def run_stage(stage: str, argv: Sequence[str] | None = None) -> None:
    """Entry point of `stages/<stage>.py`: parse arguments, read params, run, exit 2 on bad input."""
    parser = argparse.ArgumentParser(prog=f"stages/{stage}.py", description=HELP[stage])
    _add_stage_args(parser, stage)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        _call(stage, args, sys.argv[0], argv)
    except RotnetError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rotnet", description="RotNet vs supervised study (see README.md)")
    sub = parser.add_subparsers(dest="command", required=True)
    for stage in STAGES:
        _add_stage_args(sub.add_parser(stage, help=HELP[stage], description=HELP[stage]), stage)
    sub.add_parser("backbones", help="list the registered backbones and their options")
    args = parser.parse_args(argv)
    try:
        if args.command == "backbones":
            from rotnet.models.registry import describe_backbones

            print(describe_backbones())
        else:
            _call(args.command, args)
    except RotnetError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
