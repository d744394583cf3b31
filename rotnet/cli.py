"""The `rotnet` command: every stage of the table, plus the tools that use trained models."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rotnet import ablations, data_add, profiles
from rotnet.errors import RotnetError
from rotnet.stages.entry import add_stage_args, call_stage
from rotnet.stages.table import BY_NAME, STAGES


def stage_runner(name: str) -> Callable[..., Any]:
    """The ``run`` function of a stage of the table. Imported only when called: `rotnet --help`
    should not pay for importing torch."""
    return importlib.import_module(BY_NAME[name].module).run


def _infer(args: argparse.Namespace) -> None:
    from rotnet.params import RuntimeParams
    from rotnet.training.runtime import resolve_device

    device = resolve_device(RuntimeParams(device=args.device))
    if args.command == "orient":
        from rotnet.inference.orient import orient

        rows = orient(args.model, args.images, args.out, device, args.batch_size, args.max_pixels, args.overwrite)
        failed = [r for r in rows if r["error"]]
        written = {r["output"] for r in rows if r["output"]}  # one row per distinct input, each its own output
        print(f"{len(written)} upright copies in {args.out} (orientation.csv lists angles)")
    else:
        from rotnet.atomic import write_text
        from rotnet.inference.predict import predict, render

        output = Path(args.output) if args.output else None
        # Checked before the (possibly long) run, and again by the write itself (no clobbering).
        if output is not None and output.is_dir():
            raise RotnetError(f"--output {output} is a folder; give a file name")
        if output is not None and os.path.lexists(output) and not args.overwrite:
            raise RotnetError(f"--output {output} already exists; pass --overwrite to replace it, or choose another")
        rows = predict(args.model, args.images, device, args.top_k, args.batch_size, args.max_pixels)
        text = render(rows, args.format, args.top_k)
        if output is not None:
            try:
                write_text(output, text, overwrite=args.overwrite)
            except FileExistsError:
                raise RotnetError(
                    f"--output {output} appeared while predict ran; it was left as it is: "
                    "pass --overwrite to replace it, or choose another"
                ) from None
        else:
            sys.stdout.write(text)
        failed = [r for r in rows if "error" in r]
    for r in failed:
        print(f"error: {r['file']}: {r['error']}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rotnet", description="RotNet vs supervised study (see README.md)")
    sub = parser.add_subparsers(dest="command", required=True)
    for spec in STAGES:
        add_stage_args(sub.add_parser(spec.name, help=spec.help, description=spec.help), spec)
    sub.add_parser("stages", help="list the stages of the study (a markdown table)")
    bb = sub.add_parser("backbones", help="each backbone's options as the study builds it (params over defaults)")
    bb.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    pr = sub.add_parser("predict", help="class predictions of a trained model on images or folders")
    pr.add_argument("model", help="a supervised, supervised_rot or fine-tuned (finetune/<head>/) model.pt")
    pr.add_argument("images", nargs="+", help="image files or folders")
    pr.add_argument("--top-k", type=int, default=3)
    pr.add_argument("--format", choices=["table", "csv", "json"], default="table")
    pr.add_argument("--output", help="write there instead of the terminal (an existing file needs --overwrite)")
    pr.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    pr.add_argument("--batch-size", type=int, default=256)
    pr.add_argument("--device", default="auto")
    pr.add_argument("--max-pixels", type=int, default=50_000_000, help="refuse larger images")
    orp = sub.add_parser("orient", help="write upright copies of photos using a RotNet model")
    orp.add_argument("model", help="a pretrain (RotNet) model.pt")
    orp.add_argument("images", nargs="+", help="image files or folders")
    orp.add_argument(
        "--out",
        required=True,
        help="folder for the upright copies and orientation.csv; it mirrors the input folders' trees "
        "(a file argument: its name), and an image given twice is done once",
    )
    orp.add_argument(
        "--overwrite",
        action="store_true",
        help="replace upright copies or orientation.csv already in --out (without it, orient refuses "
        "before writing anything)",
    )
    orp.add_argument("--batch-size", type=int, default=128)
    orp.add_argument("--device", default="auto")
    orp.add_argument("--max-pixels", type=int, default=50_000_000, help="refuse larger images")
    wk = sub.add_parser(
        "worker",
        help="on each node but DVC's (node 0): run its share of the training stages node 0 starts (docs/operations.md)",
    )
    wk.add_argument("--endpoint", required=True, help="node 0's distributed.rdzv_endpoint, HOST:PORT")
    wk.add_argument("--node-rank", type=int, required=True, help="this node's rank, 1 to distributed.nnodes - 1")
    wk.add_argument("--once", action="store_true", help="exit after one job, with its status (default: until killed)")
    ablations.add_parser(sub)
    profiles.add_parser(sub)
    data_add.add_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        if args.command in ("predict", "orient"):
            _infer(args)
        elif args.command == "ablations":
            ablations.main(args)
        elif args.command == "profile":
            profiles.main(args)
        elif args.command == "data":
            data_add.main(args)
        elif args.command == "worker":
            from rotnet.stages.nodes import work

            sys.exit(work(args.endpoint, args.node_rank, args.once))
        elif args.command == "stages":
            from rotnet.stages.table import markdown_table

            print(markdown_table())
        elif args.command == "backbones":
            from rotnet.models.options import describe_options
            from rotnet.params import load_params

            params = load_params(args.params)
            print(describe_options(params.backbones, params.backbone_lists()))
        else:
            call_stage(BY_NAME[args.command], stage_runner(args.command), args, argv[1:])
    except RotnetError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
