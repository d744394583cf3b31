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
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # runs without `pip install -e .`

from benchmarks.gpu.common import PAPER_PRETRAIN_EPOCHS, PAPER_PROBE_EPOCHS, SHARED_FULL, scaled, slug  # noqa: E402

STATE = ROOT / ".paper-run"  # git-ignored; survives between calls while the machine is warm
DATASET, BACKBONE = "cifar10", "nin"
STEPS = {"paper": ["prepare", "pretrain", "probe"], "paper-control": ["prepare", "control"]}
BOX_EXIT = 3  # the child stopped at the box after a checkpoint: call again
GRACE_S = 10.0  # past the child's deadline before it is killed
FINAL_S = 5.0  # kept at the end of the box for the JSON and the summary
# Options that change what is trained: a call must give the ones the run started with.
PAPER = {"pretrain": PAPER_PRETRAIN_EPOCHS, "probe": PAPER_PROBE_EPOCHS}
RESULT_OPTIONS = ("data", "val_size", "train_per_class", "width", "epochs", "set", "profile")


def log(msg: str) -> None:
    print(f"[paper-run {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def read_json(path: Path, default: Any = None) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else default


def write_json(path: Path, data: Any) -> None:
    from rotnet.atomic import write_json as atomic

    atomic(path, data)


# -- params --------------------------------------------------------------------------------


def paper_params(options: dict[str, Any], device: str, mode: str):
    """The committed params.yaml with the profile merged in (as `dvc exp run -S` sets it:
    the GPU box has no dvc), cut to NIN-4 on CIFAR-10 with one seed, resumable every epoch.
    ``options["epochs"]`` (tests) replaces 200/100 with the milestones scaled."""
    import yaml

    from rotnet.params import parse_params
    from rotnet.profiles import load_profile, merge, profile_path

    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    if options["profile"]:
        path = profile_path(options["profile"])
        path = path if path.is_absolute() else ROOT / path
        raw = merge(raw, load_profile(str(path)), str(path))
    cut: dict[str, Any] = {
        "study.datasets": [DATASET],
        "study.backbones": [BACKBONE],
        "study.baselines": [],
        "study.seeds": [0],
        "runtime.device": device,
        "runtime.resume": True,
        "runtime.checkpoint_every": 1,
        f"datasets.{DATASET}.val_size": options["val_size"],
        f"datasets.{DATASET}.train_per_class": options["train_per_class"],
    }
    if options["data"]:
        cut |= {f"datasets.{DATASET}.source": "imagefolder", f"datasets.{DATASET}.path": options["data"]}
    if options["width"]:
        cut[f"backbones.{BACKBONE}.width"] = options["width"]
    if mode == "paper-control":
        cut["control.inits"] = ["random"]
    raw = merge(raw, cut, "paper run")
    if options["epochs"]:
        pre_epochs, probe_epochs = options["epochs"]
        pre, probe = raw["pretrain"], raw["probe"]
        pre["schedule"]["milestones"] = scaled(pre["schedule"]["milestones"], PAPER_PRETRAIN_EPOCHS, pre_epochs)
        pre["epochs"] = pre_epochs
        probe["schedule"]["milestones"] = scaled(probe["schedule"]["milestones"], PAPER_PROBE_EPOCHS, probe_epochs)
        probe["head_milestones"] = {
            k: scaled(v, PAPER_PROBE_EPOCHS, probe_epochs) for k, v in probe["head_milestones"].items()
        }
        probe["epochs"] = probe_epochs
    overrides = {}
    for item in options["set"]:
        key, sep, value = item.partition("=")
        if not sep:
            from rotnet.errors import RotnetError

            raise RotnetError(f"--set {item}: give KEY=VALUE, e.g. --set runtime.compile=true")
        overrides[key] = yaml.safe_load(value)
    raw = merge(raw, overrides, "--set")
    return parse_params(raw, "params.yaml (paper run)")


# -- the child: the stages, stopped at the box after a checkpoint -----------------------------


class BoxReached(BaseException):
    """Raised right after an epoch's checkpoint was written, when the next epoch would not
    fit the box. A BaseException, so no `except Exception` on the way swallows it."""


class Progress:
    """The child's record of each stage: epochs checkpointed, epoch times, done and figures,
    written atomically at every checkpoint (a killed child leaves it true to the last one)."""

    def __init__(self, path: Path, call: int, started: float | None = None) -> None:
        self.path, self.call = path, call
        self.data: dict[str, Any] = read_json(path, {})
        self.stage = ""
        # The call's first epoch counts from the child's start (its imports, data loading and
        # model set-up): the start-up each call pays, kept apart from the epoch times.
        self.mark = time.monotonic() if started is None else started
        self.first = True

    def entry(self, stage: str) -> dict[str, Any]:
        return self.data.setdefault(stage, {"done": False, "epoch": 0, "epochs": None, "epoch_s": [], "calls": {}})

    def begin(self, stage: str) -> None:
        self.stage = stage
        if not self.first:
            self.mark = time.monotonic()
        self.first = False
        self.entry(stage)["calls"].setdefault(str(self.call), {"from_epoch": self.entry(stage)["epoch"] + 1})

    def epoch_done(self, epoch: int, epochs: int) -> float:
        """Record a checkpointed epoch; its seconds (a call's first includes its start-up, so
        it is kept apart from the others)."""
        now = time.monotonic()
        seconds, self.mark = now - self.mark, now
        e = self.entry(self.stage)
        this = e["calls"][str(self.call)]
        if "first_epoch_s" in this:
            e["epoch_s"].append(round(seconds, 3))
        else:
            this["first_epoch_s"] = round(seconds, 3)
        e["epoch"], e["epochs"] = epoch, epochs
        this["to_epoch"] = epoch
        self.save()
        return seconds

    def finish(self, stage: str, seconds: float, figures: dict[str, Any]) -> None:
        e = self.entry(stage)
        e.update(done=True, figures=figures)
        e["calls"][str(self.call)]["seconds"] = round(seconds, 1)
        self.save()

    def save(self) -> None:
        write_json(self.path, self.data)


class Box:
    """The call's time box, checked right after each checkpoint write: the engine's
    ``save_resume_state`` is wrapped so that, after an unfinished checkpoint, BoxReached stops
    the stage when the next epoch would not end by ``until``; before a stage's last epoch, its
    closing work too (``finish_s``: the test pass, the kNN, the outputs; a kill there would lose
    the finished run, whose checkpoint is then only a marker). ``box_epochs`` (tests) also
    closes the box after that many epochs of a stage in this call."""

    def __init__(
        self, progress: Progress, until: float, finish_s: float, box_epochs: int | None, real: Any = None
    ) -> None:
        from rotnet.training import engine

        self.progress, self.until, self.finish_s, self.box_epochs = progress, until, finish_s, box_epochs
        self.real = real or engine.save_resume_state
        self.signature = inspect.signature(self.real)
        self.epochs_run = 0

    def install(self) -> None:
        """Make the engine write its checkpoints through ``save_then_check`` (this process only)."""
        from rotnet.training import engine

        engine.save_resume_state = self.save_then_check

    def begin(self, stage: str) -> None:
        self.epochs_run = 0
        self.progress.begin(stage)

    def save_then_check(self, *args: Any, **kwargs: Any) -> None:
        self.real(*args, **kwargs)
        bound = self.signature.bind(*args, **kwargs).arguments
        epoch, epochs = int(bound["epoch"]), int(bound["fingerprint"]["params"]["epochs"])
        seconds = self.progress.epoch_done(epoch, epochs)
        self.epochs_run += 1
        if bound["complete"]:
            return
        stage = self.progress.stage
        if self.box_epochs is not None and self.epochs_run >= self.box_epochs:
            raise BoxReached(f"{stage}: {self.box_epochs} epoch(s) in this call (--box-epochs)")
        # A call's first epoch also paid its start-up: the next one is an ordinary epoch.
        entry = self.progress.entry(stage)
        if self.epochs_run == 1 and entry["epoch_s"]:
            seconds = statistics.median(entry["epoch_s"])
        need = seconds + (self.finish_s if epoch + 1 == epochs else 0.0)
        if time.time() + need > self.until:
            raise BoxReached(f"{stage}: epoch {epoch + 1} needs about {need:.0f} s, less is left in the box")


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
        state = {"options": options, "runs": {}}
    elif state["options"] != options:
        changed = sorted(k for k in options if options[k] != state["options"].get(k))
        was = ", ".join(f"--{k.replace('_', '-')} {state['options'].get(k)!r}" for k in changed)
        raise RotnetError(
            f"{args.state} holds a run started with other options ({was}); give the same options to continue it, "
            "or add --fresh to discard it and start again"
        )
    if args.mode not in state["runs"]:
        started = dt.datetime.now(dt.timezone.utc)
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
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        rc = proc.wait(timeout=max(1.0, until - started + GRACE_S))
        status = {0: "finished", BOX_EXIT: "stopped at the box"}.get(rc, f"failed (exit {rc}; its output is above)")
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        status = "killed at the box (resumes from its last checkpoint)"
    return status, round(time.time() - started, 1)


def epoch_seconds(entry: dict[str, Any]) -> float | None:
    """A stage's seconds per epoch: the median of its epochs that were not a call's first
    (else of the firsts, start-up included: an overestimate)."""
    calls = entry.get("calls", {}).values()
    times = entry.get("epoch_s") or [c["first_epoch_s"] for c in calls if "first_epoch_s" in c]
    return statistics.median(times) if times else None


def startup_seconds(progress: dict[str, Any]) -> float | None:
    """A call's start-up before its first epoch ends, beyond that epoch: the largest seen."""
    seen = []
    for e in progress.values():
        if not e.get("epoch_s"):  # no epoch but a call's first: no start-up to tell apart
            continue
        per = epoch_seconds(e)
        seen += [c["first_epoch_s"] - per for c in e.get("calls", {}).values() if "first_epoch_s" in c]
    return max(seen) if seen else None


def plan_calls(mode: str, progress: dict[str, Any], params, budget_s: float) -> dict[str, Any]:
    """The recipe: how many more calls of the same command, and how long each, from the
    measured epoch times (a stage not measured yet is listed without a time)."""
    epochs = {"pretrain": params.pretrain.epochs, "probe": params.probe.epochs, "control": params.probe.epochs}
    measured = startup_seconds(progress)
    startup = measured or 0.0
    usable = budget_s - FINAL_S - GRACE_S
    calls: list[dict[str, Any]] = []
    unmeasured: list[str] = []
    current: dict[str, Any] | None = None
    for stage in STEPS[mode]:
        e = progress.get(stage, {})
        if e.get("done"):
            continue
        if stage == "prepare":
            unmeasured.append("prepare (once)")
            continue
        left, per = epochs[stage] - e.get("epoch", 0), epoch_seconds(e)
        if per is None:
            unmeasured.append(f"{stage} {left} epochs")
            continue
        while left > 0:
            if current is None or current["seconds"] + per > usable:
                current = {"seconds": startup, "epochs": {}}
                calls.append(current)
            n = max(1, min(left, int((usable - current["seconds"]) // per)))
            current["epochs"][stage] = current["epochs"].get(stage, 0) + n
            current["seconds"] += n * per
            left -= n
    for c in calls:
        c["seconds"] = round(c["seconds"], 1)
    startup_s = None if measured is None else round(measured, 1)
    return {"calls": calls, "not_measured": unmeasured, "startup_s": startup_s, "budget_s": budget_s}


def table1(mode: str, progress: dict[str, Any], epochs: dict[str, int]) -> list[dict[str, Any]]:
    """Each Table 1 figure beside the paper's, with the epochs it was trained for."""
    from rotnet.report import paper

    rows: list[dict[str, Any]] = []
    if mode == "paper":
        pre, pr = progress.get("pretrain", {}), progress.get("probe", {})
        layers = (pr.get("figures") or {}).get("layers", {}) if pr.get("done") else {}
        wanted = [(f"block{i}", "nonlinear", paper.NIN_PROBES[4][f"block{i}"]) for i in range(1, 5)]
        wanted.append(("block2", "conv", paper.COMPARISON["RotNet + conv head"]))
        run = {"pretrain": pre.get("epoch", 0), "probe": pr.get("epoch", 0)}
    else:
        ctl = progress.get("control", {})
        layers = (ctl.get("figures") or {}).get("layers", {}) if ctl.get("done") else {}
        wanted = [("block2", "conv", paper.COMPARISON["random init + conv head"])]
        run = {"probe": ctl.get("epoch", 0)}
    for layer, head, ref in wanted:
        got = layers.get(layer, {}).get(head) or {}
        rows.append(
            {
                "figure": f"{layer} {head}" + (" (random init)" if mode != "paper" else ""),
                "test_acc": got.get("test_acc"),
                "val_acc": got.get("val_acc"),
                "best_epoch": got.get("best_epoch"),
                "paper_test_acc": ref,
                "epochs_run": run,
                "epochs_planned": {k: epochs[k] for k in run},
                "epochs_paper": {k: PAPER[k] for k in run},
            }
        )
    return rows


def described(data: dict[str, Any]) -> str:
    if not data:
        return "not prepared yet"
    c = data["counts"]
    return f"{data['description']}: {c['train']} train / {c['val']} val / {c['test']} test"


def fmt(v: Any, spec: str = ".2f") -> str:
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def summary(res: dict[str, Any], command: str) -> str:
    lines = [f"paper run ({res['mode']}) on {res['device']}: {res['status']}; data: {res['data']}"]
    for stage, s in res["stages"].items():
        if stage == "prepare":
            lines.append(f"  prepare: {'done' if s.get('done') else 'not done'}")
            continue
        per = fmt(s.get("epoch_s"), ".2f")
        lines.append(f"  {stage}: {s['epoch']}/{s['epochs']} epochs{' (done)' if s.get('done') else ''}, {per} s/epoch")
    lines.append(f"  {'figure (test %)':28s} {'ours':>7s} {'val':>7s} {'paper':>7s}  epochs run (paper's)")
    for r in res["table1"]:
        run = ", ".join(f"{k} {v} ({r['epochs_paper'][k]})" for k, v in r["epochs_run"].items())
        lines.append(
            f"  {r['figure']:28s} {fmt(r['test_acc']):>7s} {fmt(r['val_acc']):>7s} {r['paper_test_acc']:7.2f}  {run}"
        )
    if res["mode"] == "paper" and res["stages"].get("pretrain", {}).get("done"):
        m = res["stages"]["pretrain"]["figures"]["metrics"]
        test, val = fmt(m.get("rotation_test_acc")), fmt(m.get("rotation_val_acc"))
        lines.append(f"  rotation prediction: test {test}%, val {val}%")
    if res["mode"] == "paper" and res["stages"].get("probe", {}).get("done"):
        b = res["stages"]["probe"]["figures"]["metrics"]["best"]
        where = f"{b['layer']}/{b['head']}"
        lines.append(f"  chosen on validation: {where}, val {b['val_acc']:.2f}%, test {b['test_acc']:.2f}%")
    plan = res["recipe"]
    startup = f"{plan['startup_s']:.0f} s" if plan["startup_s"] is not None else "not measured yet"
    lines.append(f"recipe (box {plan['budget_s']:.0f} s a call; start-up in a call {startup}; plus the machine's):")
    if res["status"] == "finished":
        lines.append("  nothing left: this run is finished (--fresh starts another)")
    i, calls = 1, plan["calls"]
    while i <= len(calls):  # alike calls on one line
        c, j = calls[i - 1], i
        while j < len(calls) and calls[j] == c:
            j += 1
        what = ", ".join(f"{k} {v} epochs" for k, v in c["epochs"].items())
        which = f"{i}." if j == i else f"{i}-{j}. ({j - i + 1} calls)"
        lines.append(f"  {which} {command}   # about {c['seconds'] / 60:.1f} min each: {what}")
        i = j + 1
    if plan["not_measured"]:
        lines.append(f"  then {command} again for: {', '.join(plan['not_measured'])} (no time measured yet)")
    if res["mode"] == "paper":
        lines.append("  later slot: make gpu-check ARGS=--paper-control   # the random-init control, 100 probe epochs")
    return "\n".join(lines)


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
        at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
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
