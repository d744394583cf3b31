"""make gpu-check: what a GPU box gives the study, measured in one time-boxed command.

1. Throughput: engine, plain DataLoader and model-only (the step on one fixed batch on the
   device: the ceiling) for rotation, SimCLR and BYOL pretraining on NIN and ResNet-18 (the
   equal-cost workloads, --equal-cost-steps each; a method has no plain side, its row says
   why) and ResNet-18 supervised, with bf16, channels-last and torch.compile on
   (benchmarks/throughput.py), plus the engine eager. Figures are source images/s; rotation
   trains on 4 rotated samples per image, SimCLR and BYOL on 2 views.
2. Per backbone of the committed study (or --cost-backbones): supervised, rotation, SimCLR
   and BYOL training at the committed batch and recipes, through the engine with micro_batch
   auto (SimCLR and BYOL: the whole batch, as they must run) (benchmarks/costs.py): source
   images/s, the micro-batch used and, on CUDA, the peak memory allocated; from the rates,
   the GPU-hours of the paper-scale study's training steps (supervised, RotNet, SimCLR and
   BYOL pretraining, their recipes' epochs, per dataset).
3. The paper-protocol NIN study in what is left of the box: the 4-block NIN RotNet
   pretrained with the paper's schedule compressed to the epochs that fit (milestones
   scaled), then the paper's probes (non-linear and conv heads on block 2, and the other
   heads and maps the probe stage trains), through the study's own pretrain and probe stage
   code. Epochs and heads are chosen on a validation split carved from train; the test set
   is read once. Test accuracies are printed beside the paper's.
4. One JSON (benchmarks/results/<date>-<device>.json, never overwritten) and a summary.

Each part runs in a child process with its own deadline; at the box's end a running part
is stopped and what was measured so far is kept. Needs only the python and torch it finds
(plus pydantic, timm, pillow, pyyaml): no install, no lock, no dvc.

    python benchmarks/gpu_check.py                         # 8 minutes, the GPU, full CIFAR-10 (JPEG copy)
    python benchmarks/gpu_check.py --paper                 # Table 1 at 200 + 100 epochs, in boxed calls (paper_run.py)
    python benchmarks/gpu_check.py --device cpu --budget-s 20 --width 16 --train-per-class 20 --steps 2 \
        --cost-backbones nin --cost-width 8 --cost-steps 1

The parts live in benchmarks/gpu/ (its __init__ lists them); the JSON's schema, shared
with the report, in rotnet/report/gpu_check_schema.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # runs without `pip install -e .`

from benchmarks.gpu.common import SHARED_FULL  # noqa: E402
from benchmarks.gpu.costs_phase import COST_TASKS, committed_backbones, phase_costs  # noqa: E402
from benchmarks.gpu.parent import parent  # noqa: E402
from benchmarks.gpu.study_phase import phase_prepare, phase_study  # noqa: E402
from benchmarks.gpu.throughput_phase import KNOWN, WORKLOADS, phase_throughput  # noqa: E402

PHASES = {"prepare": phase_prepare, "throughput": phase_throughput, "costs": phase_costs, "study": phase_study}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if {"--paper", "--paper-control"} & set(argv):  # the paper's whole protocol, across calls
        from benchmarks import paper_run

        return paper_run.main(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto | cuda | cuda:N | cpu")
    ap.add_argument("--budget-s", type=float, default=480.0, help="the time box, whole run (default 8 minutes)")
    ap.add_argument(
        "--data",
        type=Path,
        default=SHARED_FULL if SHARED_FULL.is_file() else None,
        help="CIFAR-10 as an image-folder archive or folder (default: ../shared's JPEG copy if there, "
        "else the official download)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="folder for the JSON")
    ap.add_argument("--batch", type=int, default=128, help="images per batch in the throughput table")
    ap.add_argument("--steps", type=int, default=100, help="steps per timed repeat and warm-up (throughput)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per throughput figure (their median)")
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="plain DataLoader workers")
    ap.add_argument("--workloads", nargs="*", default=WORKLOADS, help="throughput workloads (none: no table)")
    ap.add_argument(
        "--equal-cost-steps",
        type=int,
        default=30,
        help="steps per timed repeat and warm-up of the equal-cost workloads (rotation, SimCLR, BYOL; at most --steps)",
    )
    ap.add_argument("--compile", choices=["on", "off"], default="on", help="torch.compile in the throughput table")
    ap.add_argument("--study-compile", choices=["auto", "on", "off"], default="auto",
                    help="auto: compile the study if that made the NIN engine 15%% faster")  # fmt: skip
    ap.add_argument("--throughput-share", type=float, default=0.5, help="share of the box after prepare")
    ap.add_argument(
        "--cost-backbones",
        nargs="*",
        default=committed_backbones(),
        help="backbones whose supervised and rotation training the cost probe measures (default: params.yaml's "
        "study.backbones; none: no probe)",
    )
    ap.add_argument(
        "--cost-tasks",
        nargs="+",
        choices=COST_TASKS,
        default=COST_TASKS,
        help="what the cost probe trains per backbone, in this order (default: all)",
    )
    ap.add_argument("--costs-share", type=float, default=0.2, help="the cost probe's share of the box after prepare")
    ap.add_argument("--cost-steps", type=int, default=5, help="timed steps per cost figure, after as many warm-up")
    ap.add_argument(
        "--cost-width",
        type=int,
        default=None,
        help="width of every probed backbone that has one (NIN, ResNets) instead of params.yaml's: a quick run; "
        "its GPU-hours are then not the committed study's",
    )
    ap.add_argument("--width", type=int, default=None, help="NIN width (default: params.yaml's, the paper's 192)")
    ap.add_argument(
        "--profile",
        default="paper",
        help="params profile merged into params.yaml for the study part (profiles/<name>.yaml; '' for none)",
    )
    ap.add_argument("--train-per-class", type=int, default=None, help="keep the first N train images per class")
    ap.add_argument("--val-size", type=int, default=5000, help="validation images carved from train")
    ap.add_argument(
        "--epochs",
        type=int,
        nargs=2,
        metavar=("PRETRAIN", "PROBE"),
        default=None,
        help="fixed epochs instead of what fits the box, with no calibration (200 100: the paper's; the box "
        "still applies)",
    )
    ap.add_argument("--calibration-steps", type=int, default=30, help="timed steps sizing the study's epochs")
    ap.add_argument("--min-measure-s", type=float, default=8.0, help="skip a measurement with less time left")
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--phase", choices=list(PHASES), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--until", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    unknown = sorted(set(args.workloads) - set(KNOWN))
    if unknown:
        ap.error(f"--workloads: unknown {unknown}; choose from {KNOWN}")
    if args.throughput_share + args.costs_share > 1:
        ap.error("--throughput-share and --costs-share add up to more than the box (1)")
    if args.data is not None:
        if not args.data.exists():
            ap.error(f"--data {args.data} does not exist; give CIFAR-10 as an image-folder archive or folder")
        args.data = args.data.resolve()
    args.out = args.out.resolve()
    if args.phase:
        PHASES[args.phase](args, args.rows)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
