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
    from rotnet.training.semisup import run_semisup
    from rotnet.training.small_input import run_small_input
    from rotnet.training.supervised import run_supervised

    return {
        "prepare": (run_prepare, False),
        "supervised": (run_supervised, True),
        "pretrain": (run_pretrain, True),
        "probe": (run_probe, True),
        "finetune": (run_finetune, True),
        "small_input": (run_small_input, False),
        "semisup": (run_semisup, True),
        "report": (run_report, False),
    }


STAGES = ("prepare", "supervised", "pretrain", "probe", "finetune", "small_input", "semisup", "report")
HELP = {
    "prepare": "download or read a dataset and write data/prepared/<dataset>",
    "supervised": "train a backbone on the labels",
    "pretrain": "RotNet rotation pretraining of a backbone",
    "probe": "train heads on every frozen feature map of the pretrained backbone",
    "finetune": "train the whole pretrained backbone with a fresh classifier on the labels",
    "semisup": "accuracy vs labelled images per class: from scratch vs RotNet + conv head (paper fig. 5b)",
    "small_input": "compare the ways a large-image backbone can see small images (accuracy, images/s)",
    "report": "aggregate all metrics into metrics/report.{md,csv,png}",
}


def _add_stage_args(parser: argparse.ArgumentParser, stage: str) -> None:
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    if stage in ("prepare", "supervised", "pretrain", "probe", "finetune", "small_input", "semisup"):
        parser.add_argument("--dataset", required=True, help="dataset name, a key of params.yaml's datasets")
    if stage in ("supervised", "pretrain", "probe", "finetune", "semisup"):
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


def _infer(args: argparse.Namespace) -> None:
    from rotnet.params import RuntimeParams
    from rotnet.training.runtime import resolve_device

    device = resolve_device(RuntimeParams(device=args.device))
    if args.command == "orient":
        from rotnet.inference.orient import orient

        rows = orient(args.model, args.images, args.out, device, args.batch_size, args.max_pixels)
        failed = [r for r in rows if r["error"]]
        print(f"{len(rows) - len(failed)} upright copies in {args.out} (orientation.csv lists angles)")
    else:
        from rotnet.atomic import write_text
        from rotnet.inference.predict import predict, render

        rows = predict(args.model, args.images, device, args.top_k, args.batch_size, args.max_pixels)
        text = render(rows, args.format, args.top_k)
        if args.output:
            write_text(args.output, text)
        else:
            sys.stdout.write(text)
        failed = [r for r in rows if "error" in r]
    for r in failed:
        print(f"error: {r['file']}: {r['error']}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rotnet", description="RotNet vs supervised study (see README.md)")
    sub = parser.add_subparsers(dest="command", required=True)
    for stage in STAGES:
        _add_stage_args(sub.add_parser(stage, help=HELP[stage], description=HELP[stage]), stage)
    sub.add_parser("backbones", help="list the registered backbones and their options")
    pr = sub.add_parser("predict", help="class predictions of a trained model on images or folders")
    pr.add_argument("model", help="a supervised or finetune model.pt")
    pr.add_argument("images", nargs="+", help="image files or folders")
    pr.add_argument("--top-k", type=int, default=3)
    pr.add_argument("--format", choices=["table", "csv", "json"], default="table")
    pr.add_argument("--output", help="write there instead of the terminal")
    pr.add_argument("--batch-size", type=int, default=256)
    pr.add_argument("--device", default="auto")
    pr.add_argument("--max-pixels", type=int, default=50_000_000, help="refuse larger images")
    orp = sub.add_parser("orient", help="write upright copies of photos using a RotNet model")
    orp.add_argument("model", help="a pretrain (RotNet) model.pt")
    orp.add_argument("images", nargs="+", help="image files or folders")
    orp.add_argument("--out", required=True, help="folder for the upright copies and orientation.csv")
    orp.add_argument("--batch-size", type=int, default=128)
    orp.add_argument("--device", default="auto")
    orp.add_argument("--max-pixels", type=int, default=50_000_000, help="refuse larger images")
    args = parser.parse_args(argv)
    try:
        if args.command in ("predict", "orient"):
            _infer(args)
            return
        if args.command == "backbones":
            from rotnet.models.registry import describe_backbones

            print(describe_backbones())
        else:
            _call(args.command, args)
    except RotnetError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
