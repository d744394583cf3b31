"""make gpu-check ARGS=--paper: the paper's Table 1 protocol, whole, across time-boxed calls.

The NIN-4 RotNet pretrained 200 epochs on the paper's schedule, then the probe stage's heads
(the non-linear head on blocks 1-4 and the conv head on block 2, with the others that
probe.heads and probe.conv_layers name) 100 epochs on their official schedules; the
committed params.yaml with profiles/paper.yaml merged in, through the study's own prepare,
pretrain and probe stage code, on the full JPEG copy. Epochs and heads are chosen on the
validation split; the test split is read once, when a stage has run all its epochs.
``--paper-control`` runs the random-init control (control.inits [random]) the same way,
for a later slot.

One command may run only minutes, so each call has a time box (--budget-s). The stages run
in one child process that stops itself right after an epoch's checkpoint when the next
epoch would not fit the box (the stages' checkpoints are atomic and resume exactly); a
child that outruns the box is killed and resumes from its last checkpoint, losing at most
that epoch. Everything lives in an ignored folder of the repo (.paper-run/: the stages'
data, models, metrics and checkpoints, and this runner's progress), so the SAME command
continues in the next call; a finished run only prints its figures and writes its JSON
again. Each call prints the figures beside the paper's, with the epochs run, and the
recipe: the calls still needed and how long each takes, from the measured epoch times.

    python benchmarks/gpu_check.py --paper --out "$OUT"     # repeat until it says finished
    python benchmarks/gpu_check.py --paper-control --out "$OUT"

Its parts: benchmarks/gpu/paper_params.py, paper_box.py (the child's box) and
paper_report.py (Table 1, the recipe, the summary).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # runs without `pip install -e .`

from benchmarks.gpu.children import run_until  # noqa: E402
from benchmarks.gpu.common import PAPER_PRETRAIN_EPOCHS, PAPER_PROBE_EPOCHS, SHARED_FULL, read_json, slug, write_json  # noqa: E402
from benchmarks.gpu.paper_box import Box, BoxReached, Progress  # noqa: E402
from benchmarks.gpu.paper_params import BACKBONE, DATASET, paper_params  # noqa: E402
from benchmarks.gpu.paper_report import FINAL_S, GRACE_S, STEPS, described, epoch_seconds, plan_calls, summary, table1  # noqa: E402

STATE = ROOT / ".paper-run"  # git-ignored; survives between calls while the machine is warm
BOX_EXIT = 3  # the child stopped at the box after a checkpoint: call again
# Options that change what is trained: a call must give the ones the run started with.
RESULT_OPTIONS = ("data", "val_size", "train_per_class", "width", "epochs", "set", "profile")


def log(msg: str) -> None:
    print(f"[paper-run {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- the child: the stages, stopped at the box after a checkpoint -----------------------------


def stage_figures(stage: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """What the JSON keeps of a finished stage: its metrics and, from its run record, each
    head's best epoch and the epochs and times it ran."""
    from rotnet import paths

    kind = "control" if stage == "control" else stage
    record = read_json(paths.record_file(kind, DATASET, BACKBONE), {})
    keep = ("epochs", "best_epoch", "train_time_s", "wall_time_s", "images_per_s", "micro_batch", "device")
    out = {"metrics": metrics, "record": {k: record[k] for k in keep if k in record}}
    if stage in ("probe", "control"):
        layers = record["random"]["layers"] if stage == "control" else record.get("layers", {})
        out["best_epochs"] = {f"{m}/{h}": r.get("best_epoch") for m, hs in layers.items() for h, r in hs.items()}
        out["layers"] = layers
    return out


def child(args: argparse.Namespace) -> int:
    started = time.monotonic()
    from rotnet.errors import RotnetError
    from rotnet.stages import control, prepare, pretrain, probe

    state = read_json(args.state / "state.json")
    params = paper_params(state["options"], args.device, args.mode)
    os.chdir(args.state / "work")
    progress = Progress(args.state / "progress.json", args.call, started)
    box = Box(progress, args.until, args.finish_s, args.box_epochs)
    box.install()
    runs = {
        "prepare": lambda: prepare.run(params, DATASET),
        "pretrain": lambda: pretrain.run(params, DATASET, BACKBONE),
        "probe": lambda: probe.run(params, DATASET, BACKBONE),
        "control": lambda: control.run(params, DATASET, BACKBONE),
    }
    for stage in STEPS[args.mode]:
        if progress.entry(stage)["done"]:
            continue
        if time.time() + args.min_start_s > args.until:
            log(f"{stage}: not started, less than {args.min_start_s:.0f} s left in the box")
            return BOX_EXIT
        box.begin(stage)
        t0 = time.monotonic()
        try:
            metrics = runs[stage]()
        except BoxReached as stop:
            log(f"stopped at the box after a checkpoint: {stop}")
            return BOX_EXIT
        except RotnetError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            return 2
        if stage == "prepare":
            metrics = {k: metrics[k] for k in ("description", "counts", "checksum")}
        progress.finish(stage, time.monotonic() - t0, stage_figures(stage, metrics) if stage != "prepare" else metrics)
    return 0


# -- the parent: the box, the state, the JSON and the summary ---------------------------------


def options_of(args: argparse.Namespace) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k in RESULT_OPTIONS}


def open_state(args: argparse.Namespace, device_name: str) -> dict[str, Any]:
    """The run's state: created on the first call, checked against this call's options."""
    from rotnet.errors import RotnetError

    if args.fresh and args.state.exists():
        shutil.rmtree(args.state)
    path = args.state / "state.json"
    options = options_of(args)
    state = read_json(path)
    if state is None:
        (args.state / "work").mkdir(parents=True, exist_ok=True)
        if options["data"]:  # the prepare stage reads data/raw/<dataset>, as in a checkout
            from rotnet import paths
            from rotnet.data.raw import link_source

            link_source(DATASET, Path(options["data"]), args.state / "work" / paths.raw_dir(DATASET))
        state = {"options": options, "runs": {}}
    elif state["options"] != options:
        changed = sorted(k for k in options if options[k] != state["options"].get(k))
        was = ", ".join(f"--{k.replace('_', '-')} {state['options'].get(k)!r}" for k in changed)
        raise RotnetError(
            f"{args.state} holds a run started with other options ({was}); give the same options to continue it, "
            "or add --fresh to discard it and start again"
        )
    if args.mode not in state["runs"]:
        started = dt.datetime.now(dt.UTC)
        state["runs"][args.mode] = {
            "run_id": f"{args.mode}-{started.strftime('%Y%m%dT%H%M%S%f')}",
            "date": started.date().isoformat(),
            "started": started.isoformat(timespec="seconds"),
            "device": device_name,
            "calls": [],
        }
    write_json(path, state)
    return state


def result_file(out: Path, run: dict[str, Any], mode: str) -> Path:
    """<date>-<device>-paper.json (or -paper-control); another run's file is never
    overwritten: a later run the same day gets -2, -3... Our own earlier write is updated."""
    base, n = f"{run['date']}-{slug(run['device'])}-{mode}", 2
    path = out / f"{base}.json"
    while path.exists() and (read_json(path) or {}).get("run_id") != run["run_id"]:
        path, n = out / f"{base}-{n}.json", n + 1
    return path


def run_child(args: argparse.Namespace, call: int, until: float) -> tuple[str, float]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--mode",
        args.mode,
        "--state",
        str(args.state),
        "--device",
        args.device,
        "--until",
        f"{until:.3f}",
        "--call",
        str(call),
        "--finish-s",
        str(args.finish_s),
        "--min-start-s",
        str(args.min_start_s),
    ]
    if args.box_epochs:
        cmd += ["--box-epochs", str(args.box_epochs)]
    started = time.time()
    rc = run_until(cmd, until, GRACE_S)
    if rc is None:
        status = "killed at the box (resumes from its last checkpoint)"
    else:
        status = {0: "finished", BOX_EXIT: "stopped at the box"}.get(rc, f"failed (exit {rc}; its output is above)")
    return status, round(time.time() - started, 1)


def parent(args: argparse.Namespace) -> int:
    import torch

    t0 = time.time()
    deadline = t0 + args.budget_s
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else args.device)
    if args.device == "auto":
        args.device = device.type
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu-{platform.machine()}"
    state = open_state(args, name)
    run = state["runs"][args.mode]
    progress = read_json(args.state / "progress.json", {})
    done = all(progress.get(s, {}).get("done") for s in STEPS[args.mode])
    call = len(run["calls"]) + 1
    if done:
        status, seconds = "finished", 0.0
        log(f"{args.mode}: already finished in {len(run['calls'])} call(s); reprinting it")
    else:
        log(f"{args.mode} call {call} on {name}: box {args.budget_s:.0f} s; state in {args.state}")
        status, seconds = run_child(args, call, deadline - FINAL_S - GRACE_S)
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        run["calls"].append(
            {"call": call, "device": name, "budget_s": args.budget_s, "seconds": seconds, "status": status, "at": at}
        )
        write_json(args.state / "state.json", state)
        progress = read_json(args.state / "progress.json", {})
    params = paper_params(state["options"], args.device, args.mode)
    finished = all(progress.get(s, {}).get("done") for s in STEPS[args.mode])
    overall = "finished" if finished else ("failed" if status.startswith("failed") else "in progress: run it again")
    epochs = {"pretrain": params.pretrain.epochs, "probe": params.probe.epochs, "control": params.probe.epochs}
    stages = {}
    for s in STEPS[args.mode]:
        e = dict(progress.get(s, {"done": False, "epoch": 0}))
        if s != "prepare":
            e.update(epochs=epochs[s], epoch_s=epoch_seconds(e))
        stages[s] = e
    data = progress.get("prepare", {}).get("figures") or {}
    res = {
        "kind": "rotnet gpu-check paper",
        "schema": 1,
        "mode": args.mode,
        "run_id": run["run_id"],
        "date": run["date"],
        "started": run["started"],
        "device": run["device"],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "status": overall,
        "full_protocol": epochs["pretrain"] == PAPER_PRETRAIN_EPOCHS and epochs["probe"] == PAPER_PROBE_EPOCHS,
        "options": state["options"],
        "data": described(data),
        "protocol": {
            "profile": state["options"]["profile"],
            "nin": params.backbone_options(BACKBONE),
            "pretrain": {
                "epochs": epochs["pretrain"],
                "milestones": params.pretrain.schedule.milestones,
                "checkpoint": params.pretrain.checkpoint,
                "batch_size": params.pretrain.batch_size,
            },
            "probe": {
                "epochs": epochs["probe"],
                "milestones": params.probe.schedule.milestones,
                "head_milestones": params.probe.head_milestones,
                "heads": params.probe.heads,
                "conv_layers": params.probe.conv_layers,
                "batch_size": params.probe.batch_size,
            },
            "amp": params.runtime.amp,
            "compile": params.runtime.compile,
            "choices": "epochs and heads on the validation split; the test split read once per stage, at its end",
        },
        "stages": stages,
        "table1": table1(args.mode, progress, epochs),
        "calls": run["calls"],
        "recipe": plan_calls(args.mode, progress, params, args.budget_s),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = result_file(args.out, run, args.mode)
    write_json(path, res)
    write_json(args.state / f"{args.mode}.json", res)
    print(summary(res, f"make gpu-check ARGS=--{args.mode}"), flush=True)
    log(f"wrote {path}")
    return 1 if overall == "failed" else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--paper", dest="mode", action="store_const", const="paper", help="RotNet + Table 1's probes")
    mode.add_argument(
        "--paper-control",
        dest="mode",
        action="store_const",
        const="paper-control",
        help="the random-init control's probes (a later slot)",
    )
    mode.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", dest="child_mode", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--device", default="auto", help="auto | cuda | cuda:N | cpu")
    ap.add_argument("--budget-s", type=float, default=540.0, help="this call's time box (default 9 minutes)")
    ap.add_argument(
        "--data",
        type=Path,
        default=SHARED_FULL if SHARED_FULL.is_file() else None,
        help="CIFAR-10 as an image-folder archive or folder (default: ../shared's full JPEG copy if there, "
        "else the official download)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="folder for the JSON")
    ap.add_argument("--state", type=Path, default=STATE, help="the run's folder, kept between calls")
    ap.add_argument("--fresh", action="store_true", help="discard the state folder's run and start again")
    ap.add_argument("--profile", default="paper", help="params profile merged in (profiles/<name>.yaml)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a params override after the profile, e.g. runtime.compile=true (repeatable)",
    )
    ap.add_argument("--val-size", type=int, default=5000, help="validation images carved from train")
    ap.add_argument("--train-per-class", type=int, default=None, help="keep the first N train images per class")
    ap.add_argument("--width", type=int, default=None, help="NIN width (default: params.yaml's, the paper's 192)")
    ap.add_argument(
        "--epochs",
        type=int,
        nargs=2,
        metavar=("PRETRAIN", "PROBE"),
        default=None,
        help="tests only: other epochs than the paper's 200 and 100 (milestones scaled)",
    )
    ap.add_argument(
        "--finish-s",
        type=float,
        default=30.0,
        help="kept for a stage's closing work (test pass, kNN, outputs) before its last epoch",
    )
    ap.add_argument("--min-start-s", type=float, default=20.0, help="start no stage with less left in the box")
    ap.add_argument("--box-epochs", type=int, default=None, help=argparse.SUPPRESS)  # tests: a box in epochs
    ap.add_argument("--until", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--call", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.state = args.state.resolve()
    if args.child:
        args.mode = args.child_mode
        return child(args)
    if args.data is not None:
        if not args.data.exists():
            ap.error(f"--data {args.data} does not exist; give CIFAR-10 as an image-folder archive or folder")
        args.data = args.data.resolve()
    args.out = args.out.resolve()
    from rotnet.errors import RotnetError

    try:
        return parent(args)
    except RotnetError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
