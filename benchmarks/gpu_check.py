"""make gpu-check: what a GPU box gives the study, measured in one time-boxed command.

1. Throughput: engine, plain DataLoader and model-only (the step on one fixed batch on the
   device: the ceiling) for NIN rotation pretraining, ResNet-18 and ResNet-50 supervised,
   with bf16, channels-last and torch.compile on (benchmarks/throughput.py), plus the
   engine eager. Figures are source images/s; NIN rotation trains on 4 rotated samples per
   image.
2. Per backbone of the committed study (or --cost-backbones): supervised and rotation
   training at the committed batch and recipes, through the engine with micro_batch auto
   (benchmarks/costs.py): source images/s, the micro-batch used and, on CUDA, the peak
   memory allocated; from the rates, the GPU-hours of the paper-scale study's training
   steps (supervised and RotNet pretraining, their recipes' epochs, per dataset).
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
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # runs without `pip install -e .`

SHARED_FULL = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"
WORKLOADS = ["nin-rotation", "resnet18", "resnet50"]
# The engine's bar: 200 NIN pretraining epochs (45,000 train images x 4 rotations) in 5 minutes.
BAR_IMAGES = 45_000
BAR_SAMPLES_PER_S = 200 * BAR_IMAGES * 4 / 300
PAPER_PRETRAIN_EPOCHS = 200
PAPER_PROBE_EPOCHS = 100
COST_TASKS = ["supervised", "rotation"]
# The official train splits (the downloads'); the study trains on them less params' val_size.
OFFICIAL_TRAIN = {"cifar10": (50_000, 10), "fashion_mnist": (60_000, 10)}  # images, classes
CPU_PEAK = "not measured on the CPU: one process measures every backbone (benchmarks/costs.py runs one each)"
GRACE_S = 5.0  # a child gets this long past its deadline before it is stopped
FINAL_S = 4.0  # kept at the end of the box for the summary and the JSON
CEILING_TOLERANCE = 0.03  # = throughput.CEILING_TOLERANCE (this process imports no torch)


def log(msg: str) -> None:
    print(f"[gpu-check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def emit(rows: Path, row: dict[str, Any]) -> None:
    """A child's result row, appended at once so that a stopped child keeps it."""
    with rows.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def read_rows(rows: Path) -> list[dict[str, Any]]:
    if not rows.is_file():
        return []
    return [json.loads(line) for line in rows.read_text(encoding="utf-8").splitlines() if line.strip()]


def device_of(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


# -- children ------------------------------------------------------------------------------


def phase_prepare(args: argparse.Namespace, rows: Path) -> None:
    from rotnet.params import DatasetParams
    from rotnet.stages.prepare import prepare

    if args.data:
        cfg = DatasetParams(source="imagefolder", path=str(args.data), val_size=args.val_size)
    else:  # the official archive (needs the internet)
        cfg = DatasetParams(source="download", download_dir=str(Path(args.work) / "data" / "raw"), val_size=5000)
    cfg = cfg.model_copy(update={"train_per_class": args.train_per_class})
    meta = prepare("cifar10", cfg, Path(args.work) / "data" / "prepared" / "cifar10", seed=0)
    emit(rows, {"description": meta["description"], "counts": meta["counts"], "checksum": meta["checksum"]})


def phase_throughput(args: argparse.Namespace, rows: Path) -> None:
    import numpy as np
    import throughput

    from rotnet.data.prepared import load_prepared

    device = device_of(args.device)
    train = load_prepared(Path(args.work) / "data" / "prepared" / "cifar10").train
    n = (args.steps + 2) * args.batch
    reps = -(-n // len(train.labels))
    images = np.concatenate([train.images] * reps)[:n]
    labels = np.concatenate([train.labels] * reps)[:n]
    compiled = args.compile == "on"
    # Per workload, most telling first: the ceiling, the engine, plain; then the engine eager
    # (which also tells whether compiling pays for the study).
    sides = [("model-only", compiled), ("engine", compiled), ("plain", compiled)]
    plan = [(w, s, c) for w in args.workloads for s, c in sides + ([("engine", False)] if compiled else [])]
    for key, side, comp in plan:
        row = {"workload": key, "side": side, "compile": comp}
        left = args.until - time.time()
        if left < args.min_measure_s:
            emit(rows, {**row, "skipped": f"time box ({left:.0f} s left)"})
            continue
        t0 = time.perf_counter()
        try:
            got = throughput.measure(key, side, images, labels, args.batch, args.steps, device, comp, args.workers,
                                     args.repeats)  # fmt: skip
            ips = got["images_per_s"]  # the median of the timed repeats, each kept in the row
        except Exception as err:  # one failed measurement must not cost the others
            emit(rows, {**row, "error": f"{type(err).__name__}: {err}"[:500]})
            log(f"{key} {side} compile={comp}: failed: {err}")
            continue
        per = 4 if throughput.WORKLOADS[key][4] else 1
        emit(rows, {**row, "images_per_s": round(ips, 1), "samples_per_s": round(ips * per, 1),
                    "repeats_images_per_s": [round(v, 1) for v in got["repeats"]],
                    "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
        log(f"{key} {side} compile={comp}: {ips:.1f} images/s ({time.perf_counter() - t0:.0f} s with warm-up)")


def committed_backbones() -> list[str]:
    """params.yaml's study.backbones: the default of --cost-backbones."""
    import yaml

    return list(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["study"]["backbones"])


def cost_params(width: int | None):
    """The committed params.yaml; with ``width``, every backbone entry that has a width
    (NIN, the ResNets) takes it instead: a quick run's small models."""
    import yaml

    from rotnet.params import parse_params

    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    if width:
        for opts in raw["backbones"].values():
            if isinstance(opts, dict) and "width" in opts:
                opts["width"] = width
    return parse_params(raw, "params.yaml (gpu-check costs)")


def free_device(device) -> None:
    """Give back what the last measurement left cached, so the next one has the whole GPU."""
    gc.collect()
    if device.type == "cuda":
        import torch

        torch.cuda.empty_cache()


def phase_costs(args: argparse.Namespace, rows: Path) -> None:
    import costs

    device = device_of(args.device)
    params = cost_params(args.cost_width)
    for backbone in args.cost_backbones:
        for task in COST_TASKS:
            row = {"backbone": backbone, "task": task}
            left = args.until - time.time()
            if left < args.min_measure_s:
                emit(rows, {**row, "skipped": f"time box ({left:.0f} s left)"})
                continue
            try:
                got = costs.measure(backbone, task, args.cost_steps, str(device), params)
            except Exception as err:  # one failed measurement must not cost the others
                emit(rows, {**row, "error": f"{type(err).__name__}: {err}"[:500]})
                log(f"cost {backbone} {task}: failed: {err}")
                continue
            finally:
                free_device(device)
            if device.type != "cuda":  # this process's peak RSS spans every measurement so far
                got.update(peak_gib=None, peak_of=CPU_PEAK)
            emit(rows, got)
            log(f"cost {backbone} {task}: {got['images_per_s']:.1f} images/s, micro-batch {got['micro_batch']}, "
                f"peak {num(got['peak_gib'], '.2f')} GiB ({got['seconds']:.0f} s with warm-up)")  # fmt: skip


def scaled(milestones: list[int], paper_epochs: int, epochs: int) -> list[int]:
    """The paper's step milestones at the same fractions of a shorter run."""
    out: list[int] = []
    for m in milestones:
        e = max(1, round(m * epochs / paper_epochs))
        if e < epochs and (not out or e > out[-1]):
            out.append(e)
    return out


def study_params(args: argparse.Namespace, pre_epochs: int, probe_epochs: int):
    """The committed paper-scale params.yaml with --profile merged in (profiles/paper.yaml:
    the official code's init and last-epoch RotNet), cut to NIN on CIFAR-10 and compressed
    epochs. Merged in Python, as `dvc exp run -S` would set it: the box has no dvc."""
    import yaml

    from rotnet.params import parse_params
    from rotnet.profiles import load_profile, merge, profile_path

    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    if args.profile:
        path = profile_path(args.profile)
        path = path if path.is_absolute() else ROOT / path
        raw = merge(raw, load_profile(str(path)), str(path))
    raw["study"].update(datasets=["cifar10"], backbones=["nin"], baselines=[], seeds=[0])
    raw["runtime"].update(device=str(args.device), compile=args.study_compile == "on", resume=False)
    raw["runtime"]["checkpoint_every"] = max(pre_epochs, probe_epochs)
    if args.width:
        raw["backbones"]["nin"]["width"] = args.width
    pre, probe = raw["pretrain"], raw["probe"]
    pre["schedule"]["milestones"] = scaled(pre["schedule"]["milestones"], PAPER_PRETRAIN_EPOCHS, pre_epochs)
    pre["epochs"] = pre_epochs
    probe["schedule"]["milestones"] = scaled(probe["schedule"]["milestones"], PAPER_PROBE_EPOCHS, probe_epochs)
    probe["head_milestones"] = {
        k: scaled(v, PAPER_PROBE_EPOCHS, probe_epochs) for k, v in probe["head_milestones"].items()
    }
    probe["epochs"] = probe_epochs
    return parse_params(raw, "params.yaml (gpu-check)")


def calibrate(args: argparse.Namespace, params) -> dict[str, float]:
    """Seconds per pretraining and per probe epoch on this device: a few timed steps of each
    (after a warm-up epoch: kernels, compile) and one validation pass."""
    import torch

    from rotnet.data.device import DeviceDataset
    from rotnet.data.prepared import load_prepared
    from rotnet.models.registry import create_backbone
    from rotnet.probing.task import probe_heads, probe_task
    from rotnet.training.engine import Engine
    from rotnet.training.tasks import RotationTask

    device = device_of(args.device)
    prepared = load_prepared(Path("data") / "prepared" / "cifar10")
    data = DeviceDataset.from_prepared(prepared, device)
    engine = Engine(data, params.runtime, device)
    n_train = len(prepared.train.labels)
    out: dict[str, float] = {"train_images": n_train}
    opts = params.backbone_options("nin")
    for name, cfg in (("pretrain", params.pretrain), ("probe", params.probe)):
        torch.manual_seed(0)
        model = create_backbone("nin", 4 if name == "pretrain" else 10, options=opts)
        if name == "pretrain":
            task = RotationTask(model, cfg.rotations)
        else:
            hw = prepared.train.images.shape[1:3]
            heads, layers = probe_heads(model, cfg, 3, hw, prepared.num_classes, "nin")
            task = probe_task(heads, layers, model, cfg, prepared.num_classes)
        steps = max(1, min(args.calibration_steps, n_train // cfg.batch_size))
        short = cfg.model_copy(update={"epochs": 2, "epoch_size": steps * cfg.batch_size})
        result = engine.fit(task, short, seed=1, desc=f"calibrate {name}")
        t0 = time.perf_counter()
        engine.evaluate(task, data.val)
        if device.type == "cuda":
            torch.cuda.synchronize()
        out[f"{name}_images_per_s"] = result.history[-1]["images_per_s"]
        out[f"{name}_eval_s"] = time.perf_counter() - t0
        out[f"{name}_epoch_s"] = n_train / out[f"{name}_images_per_s"] + out[f"{name}_eval_s"]
    return out


def plan_epochs(seconds: float, pre_epoch_s: float, probe_epoch_s: float) -> tuple[int, int]:
    """Pretraining and probe epochs that fit ``seconds``, in the paper's 2:1 ratio (200:100),
    at least one each, at most the paper's."""
    probe = math.floor(seconds / (2 * pre_epoch_s + probe_epoch_s))
    if probe >= 1:
        probe = min(probe, PAPER_PROBE_EPOCHS)
        return min(2 * probe, PAPER_PRETRAIN_EPOCHS), probe
    return max(1, math.floor((seconds - probe_epoch_s) / pre_epoch_s)), 1


def phase_study(args: argparse.Namespace, rows: Path) -> None:
    from rotnet.report import paper
    from rotnet.stages import pretrain, probe

    os.chdir(args.work)
    t0 = time.time()
    cal = calibrate(args, study_params(args, 2, 2))
    # Kept back: the test pass, kNN over every map, model files; a tenth of the rest for error.
    left = args.until - time.time()
    spare = 0.1 * left + 3 * cal["probe_eval_s"] + 3
    if args.epochs:  # asked for: the time box still stops the run
        pre_epochs, probe_epochs = args.epochs
    else:
        pre_epochs, probe_epochs = plan_epochs(left - spare, cal["pretrain_epoch_s"], cal["probe_epoch_s"])
    params = study_params(args, pre_epochs, probe_epochs)
    emit(rows, {"part": "plan", "calibration": {k: round(v, 3) for k, v in cal.items()},
                "calibration_s": round(time.time() - t0, 1), "pretrain_epochs": pre_epochs,
                "pretrain_milestones": params.pretrain.schedule.milestones, "probe_epochs": probe_epochs,
                "probe_milestones": params.probe.schedule.milestones,
                "probe_head_milestones": params.probe.head_milestones,
                "nin": params.backbone_options("nin"), "compile": params.runtime.compile,
                "profile": args.profile, "pretrain_checkpoint": params.pretrain.checkpoint})  # fmt: skip
    log(f"plan: pretrain {pre_epochs} epochs, probes {probe_epochs} (paper: 200 and 100)")
    t1 = time.time()
    pm = pretrain.run(params, "cifar10", "nin")
    record = json.loads(Path("models/cifar10/nin/pretrain/run.json").read_text())
    emit(rows, {"part": "pretrain", "seconds": round(time.time() - t1, 1),
                "rotation_val_acc": pm["rotation_val_acc"], "rotation_test_acc": pm["rotation_test_acc"],
                "best_epoch": record.get("best_epoch"), "images_per_s": pm["images_per_s"]})  # fmt: skip
    t2 = time.time()
    qm = probe.run(params, "cifar10", "nin")
    layers = qm["layers"]
    paper_figs = {
        "block2/nonlinear": paper.COMPARISON["RotNet + non-linear head"],
        "block2/conv": paper.COMPARISON["RotNet + conv head"],
    }
    emit(rows, {"part": "probe", "seconds": round(time.time() - t2, 1), "layers": layers, "knn": qm["knn"],
                "best": qm["best"], "images_per_s": qm["images_per_s"],
                "block2": {k: layers["block2"].get(k) for k in ("nonlinear", "conv")},
                "paper_test_acc": paper_figs})  # fmt: skip


PHASES = {"prepare": phase_prepare, "throughput": phase_throughput, "costs": phase_costs, "study": phase_study}


# -- the parent ----------------------------------------------------------------------------


def run_child(name: str, args: argparse.Namespace, until: float, extra: list[str]) -> dict[str, Any]:
    """Run one part in a child process until ``until`` (wall clock); its rows, its status."""
    rows = Path(args.work) / f"{name}.jsonl"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", name, "--rows", str(rows),
           "--until", f"{until:.3f}", "--work", str(args.work), *extra]  # fmt: skip
    started = time.time()
    log(f"{name}: starting ({until - started:.0f} s in its box)")
    child = subprocess.Popen(cmd, cwd=ROOT)
    try:
        rc = child.wait(timeout=max(1.0, until - started + GRACE_S))
        status = "complete" if rc == 0 else f"failed (exit {rc}; its output is above)"
    except subprocess.TimeoutExpired:
        child.terminate()
        try:
            child.wait(timeout=3)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        status = "stopped at the time box"
    seconds = round(time.time() - started, 1)
    log(f"{name}: {status} after {seconds} s")
    return {"status": status, "seconds": seconds, "rows": read_rows(rows)}


def child_args(args: argparse.Namespace) -> list[str]:
    out = ["--device", args.device, "--batch", str(args.batch), "--steps", str(args.steps),
           "--repeats", str(args.repeats), "--workers", str(args.workers), "--compile", args.compile,
           "--val-size", str(args.val_size),
           "--calibration-steps", str(args.calibration_steps), "--min-measure-s", str(args.min_measure_s),
           "--cost-steps", str(args.cost_steps), "--workloads", *args.workloads,
           "--cost-backbones", *args.cost_backbones]  # fmt: skip
    if args.data:
        out += ["--data", str(args.data)]
    if args.width:
        out += ["--width", str(args.width)]
    if args.cost_width:
        out += ["--cost-width", str(args.cost_width)]
    if args.train_per_class:
        out += ["--train-per-class", str(args.train_per_class)]
    if args.epochs:
        out += ["--epochs", *map(str, args.epochs)]
    return out


def throughput_table(rows: list[dict[str, Any]], compiled: bool) -> dict[str, dict[str, Any]]:
    """Per workload: each side at the table's compile setting, the engine eager beside it."""
    table: dict[str, dict[str, Any]] = {}
    for r in rows:
        if "images_per_s" not in r:
            continue
        key = r["side"].replace("-", "_") + ("_eager" if compiled and not r["compile"] else "")
        table.setdefault(r["workload"], {})[key] = r["images_per_s"]
    for t in table.values():
        e, p, m = t.get("engine"), t.get("plain"), t.get("model_only")
        if e and p:
            t["engine_over_plain"] = round(e / p, 3)
        if e and m:
            t["engine_over_model"] = round(e / m, 3)
        if p and m:
            t["plain_over_model"] = round(p / m, 3)
        # Above 1 + tolerance, model-only is no ceiling: a measurement bug (throughput.ceiling).
        over = (t.get("engine_over_model", 0), t.get("plain_over_model", 0))
        t["ceiling_broken"] = max(over) > 1 + CEILING_TOLERANCE
    return table


def cost_table(rows: list[dict[str, Any]], backbones: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per backbone and task: its row without the keys, or why it has no figures."""
    stopped = {"skipped": "the phase stopped before it"}
    table = {b: {t: dict(stopped) for t in COST_TASKS} for b in backbones}
    for r in rows:
        table.setdefault(r["backbone"], {})[r["task"]] = {k: v for k, v in r.items() if k not in ("backbone", "task")}
    return table


def train_images(params, dataset: str) -> int | None:
    """Images in the study's train split of ``dataset``: the official train split less
    val_size (None for a dataset of unknown size, an image folder say)."""
    if dataset not in OFFICIAL_TRAIN:
        return None
    total, classes = OFFICIAL_TRAIN[dataset]
    cfg = params.dataset(dataset)
    n = total - cfg.val_size
    return min(n, classes * cfg.train_per_class) if cfg.train_per_class else n


def stage_hours(cfg, train: int, images_per_s: float) -> float:
    """Hours of training steps for ``cfg.epochs`` epochs; an epoch is epoch_size (or the
    train split) // batch_size full batches, as the engine runs it."""
    per_epoch = (cfg.epoch_size or train) // cfg.batch_size * cfg.batch_size
    return cfg.epochs * per_epoch / images_per_s / 3600


def study_gpu_hours(table: dict[str, dict[str, dict[str, Any]]], params, width: int | None) -> dict[str, Any]:
    """GPU-hours of the study's supervised and pretraining steps, per backbone and dataset,
    at the measured images/s."""
    sizes = {d: train_images(params, d) for d in params.study.datasets}
    per_backbone: dict[str, Any] = {}
    for backbone, tasks in table.items():
        sup, rot = tasks["supervised"].get("images_per_s"), tasks["rotation"].get("images_per_s")
        if not (sup and rot):
            continue
        sup_cfg, pre_cfg = params.recipe("supervised", backbone), params.recipe("pretrain", backbone)
        hours = {}
        for d, n in sizes.items():
            if n:
                s, p = stage_hours(sup_cfg, n, sup), stage_hours(pre_cfg, n, rot)
                hours[d] = {"supervised": round(s, 3), "pretrain": round(p, 3), "total": round(s + p, 3)}
        per_backbone[backbone] = {
            "epochs": {"supervised": sup_cfg.epochs, "pretrain": pre_cfg.epochs},
            "datasets": hours,
            "total": round(sum(h["total"] for h in hours.values()), 3),
        }
    note = (
        "training steps only: each backbone's supervised and RotNet pretraining epochs (its recipe's, beside "
        "it) of the train split (official train less val_size) at the measured images/s; "
        "not included: evaluation, the probes and controls, fine-tuning, semisup, small_input, the baselines, "
        "checkpoints and start-up. Rates are for 32x32 RGB; Fashion-MNIST's one channel changes only the first "
        "convolution"
    )
    if width:
        note += f". Measured at --cost-width {width}, not the committed widths: not the committed study's hours"
    return {
        "per_backbone": per_backbone,
        "total": round(sum(b["total"] for b in per_backbone.values()), 3),
        "unmeasured": [b for b in table if b not in per_backbone],
        "train_images": sizes,
        "note": note,
    }


def study_compile(table: dict[str, dict[str, Any]], asked: str) -> str:
    """Compile the study when the compiled engine beat the eager one by 15% on NIN rotation."""
    if asked != "auto":
        return asked
    nin = table.get("nin-rotation", {})
    on, off = nin.get("engine"), nin.get("engine_eager")
    return "on" if on and off and on >= 1.15 * off else "off"


def result_path(out_dir: Path, device_name: str, date: str) -> Path:
    """benchmarks/results/<date>-<device>.json; a later run the same day gets -2, -3..."""
    base = f"{date}-{slug(device_name)}"
    path, n = out_dir / f"{base}.json", 2
    while path.exists():
        path, n = out_dir / f"{base}-{n}.json", n + 1
    return path


def num(v: Any, fmt: str) -> str:
    """``v`` formatted, or a dash as wide as the format asks for."""
    if isinstance(v, (int, float)):
        return format(v, fmt)
    width = re.match(r"\d*", fmt).group()
    return "-".rjust(int(width or 0))


def cost_summary(costs: dict[str, Any]) -> list[str]:
    """The per-backbone table and the study's GPU-hours, for the printed summary."""
    lines = ["", f"per-backbone training cost, committed recipes and batch, micro_batch auto: {costs['status']}"]
    table = costs.get("table") or {}
    if not table:
        return lines
    lines.append(f"  {'backbone':16s} {'sup. img/s':>10s} {'micro':>5s} {'peak GiB':>8s} {'rot. img/s':>10s} "
                 f"{'samples/s':>10s} {'micro':>5s} {'peak GiB':>8s}")  # fmt: skip
    unmeasured = []
    for b, tasks in table.items():
        sup, rot = tasks["supervised"], tasks["rotation"]
        lines.append(
            f"  {b:16s} {num(sup.get('images_per_s'), '10.1f')} {num(sup.get('micro_batch'), '5d')} "
            f"{num(sup.get('peak_gib'), '8.2f')} {num(rot.get('images_per_s'), '10.1f')} "
            f"{num(rot.get('samples_per_s'), '10.1f')} {num(rot.get('micro_batch'), '5d')} "
            f"{num(rot.get('peak_gib'), '8.2f')}"
        )
        unmeasured += [
            f"  {b} {t}: {e.get('error') or e.get('skipped')}"
            for t, e in tasks.items()
            if "error" in e or "skipped" in e
        ]
    hours = costs.get("study_gpu_hours") or {}
    lines += unmeasured
    if hours.get("per_backbone"):
        lines.append("  the paper-scale study's GPU-hours, supervised + RotNet pretraining training steps only:")
        for b, h in hours["per_backbone"].items():
            per = ", ".join(f"{d} {v['total']:.2f}" for d, v in h["datasets"].items())
            lines.append(f"    {b:16s} {per}: {h['total']:.2f} h")
        missing = f" (not measured: {', '.join(hours['unmeasured'])})" if hours["unmeasured"] else ""
        lines.append(f"    {'all measured':16s} {hours['total']:.2f} h{missing}")
    return lines


def summary(res: dict[str, Any]) -> str:
    lines = [f"gpu-check on {res['device']} ({res['date']}), {res['elapsed_s']:.0f} s of {res['budget_s']:.0f}: "
             f"{res['status']}", "", "throughput, source images/s (NIN rotation: x4 rotated samples/s):",
             f"  {'workload':14s} {'plain':>10s} {'engine':>10s} {'model-only':>10s} {'eager eng.':>10s} "
             f"{'eng/plain':>9s} {'eng/model':>9s}"]  # fmt: skip
    for w, t in res["throughput"]["table"].items():
        lines.append(
            f"  {w:14s} {num(t.get('plain'), '10.0f')} {num(t.get('engine'), '10.0f')} "
            f"{num(t.get('model_only'), '10.0f')} {num(t.get('engine_eager'), '10.0f')} "
            f"{num(t.get('engine_over_plain'), '8.2f')}x {num(t.get('engine_over_model'), '9.0%')}"
        )
        if t.get("ceiling_broken"):
            lines.append(f"  WARNING: MEASUREMENT BUG: {w}: model-only is not a ceiling (see throughput.py)")
    bar = res.get("bar") or {}
    if bar.get("engine_samples_per_s"):
        lines.append(
            f"  bar: 200-epoch NIN pretraining in 5 min = {BAR_SAMPLES_PER_S:,.0f} rotated samples/s; the engine "
            f"gives {bar['engine_samples_per_s']:,.0f} ({bar['fraction']:.0%}): 200 epochs in "
            f"{bar['nin_200_epochs_min']:.1f} min"
        )
    lines += cost_summary(res["costs"])
    st = res["study"]
    plan, pre, pr = st.get("plan"), st.get("pretrain"), st.get("probe")
    lines += ["", f"paper-protocol NIN study ({st['data']}):"]
    if plan:
        lines.append(
            f"  pretraining {plan['pretrain_epochs']} epochs (paper 200), milestones {plan['pretrain_milestones']}; "
            f"probes {plan['probe_epochs']} epochs (paper 100); compile {'on' if plan['compile'] else 'off'}"
        )
    if pre:
        lines.append(f"  rotation test accuracy {pre['rotation_test_acc']:.2f}% ({pre['seconds']:.0f} s)")
    if pr:
        for head in ("nonlinear", "conv"):
            got = (pr["block2"].get(head) or {}).get("test_acc")
            lines.append(
                f"  block2 {head:9s} test {num(got, '.2f')}%   paper {pr['paper_test_acc'][f'block2/{head}']:.2f}%"
            )
    if not pr:
        lines.append(f"  not finished: {st['status']}")
    return "\n".join(lines)


def run_costs(args: argparse.Namespace, res: dict[str, Any], until: float, extra: list[str]) -> None:
    """The per-backbone probe in its own child until ``until``; its table and the study's
    GPU-hours into ``res``."""
    costs = res["costs"]
    if not args.cost_backbones:
        costs["status"] = "skipped: --cost-backbones is empty"
        return
    cs = run_child("costs", args, until, extra)
    res["phases"]["costs"] = {"status": cs["status"], "seconds": cs["seconds"]}
    table = cost_table(cs["rows"], args.cost_backbones)
    hours = study_gpu_hours(table, cost_params(None), args.cost_width)
    costs.update(status=cs["status"], rows=cs["rows"], table=table, study_gpu_hours=hours)


def overall_status(res: dict[str, Any]) -> str:
    """complete, or partial with what is missing: a part stopped or failed, measurements skipped."""
    incomplete = [k for k, p in res["phases"].items() if p["status"] != "complete"]
    if incomplete:
        return "partial: " + ", ".join(f"{k} {res['phases'][k]['status']}" for k in incomplete)
    missing = [
        f"{n} {what} measurement(s) skipped or failed"
        for what, rows in (
            ("throughput", res["throughput"].get("rows", [])),
            ("cost", [e for t in (res["costs"].get("table") or {}).values() for e in t.values()]),
        )
        if (n := sum("images_per_s" not in r for r in rows))
    ]
    return "partial: " + "; ".join(missing) if missing else "complete"


def parent(args: argparse.Namespace) -> int:
    import torch

    from rotnet.atomic import write_json

    t0 = time.time()
    deadline = t0 + args.budget_s
    device = device_of(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu-{platform.machine()}"
    date = dt.date.today().isoformat()
    args.out.mkdir(parents=True, exist_ok=True)
    path = result_path(args.out, name, date)
    own_work = args.work is None
    args.work = Path(tempfile.mkdtemp(prefix="gpu-check-")) if own_work else Path(args.work)
    res: dict[str, Any] = {
        "kind": "rotnet gpu-check",
        "schema": 1,
        "date": date,
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": name,
        "device_type": device.type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "budget_s": args.budget_s,
        "status": "running",
        "elapsed_s": 0.0,
        "options": {
            "batch": args.batch,
            "steps": args.steps,
            "compile": args.compile,
            "width": args.width,
            "train_per_class": args.train_per_class,
            "workers": args.workers,
            "epochs": args.epochs,
            "cost_backbones": args.cost_backbones,
            "cost_steps": args.cost_steps,
            "cost_width": args.cost_width,
        },
        "phases": {},
        "throughput": {"unit": "source images/s; NIN rotation trains on 4 rotated samples per image", "table": {}},
        "bar": None,
        "costs": {
            "unit": "source images/s at each backbone's committed recipe and batch; rotation trains on "
            "len(pretrain.rotations) rotated samples per image (samples_per_s)",
            "steps": args.cost_steps,
            "status": "not started",
        },
        "study": {"data": "not prepared", "status": "not started"},
    }

    def save(status: str) -> None:
        res["status"], res["elapsed_s"] = status, round(time.time() - t0, 1)
        write_json(path, res)

    save("running")
    log(f"{name}: box {args.budget_s:.0f} s; results -> {path}")
    extra = child_args(args)
    try:
        prep = run_child("prepare", args, deadline - FINAL_S, extra)
        res["phases"]["prepare"] = {"status": prep["status"], "seconds": prep["seconds"]}
        if not prep["rows"] or prep["status"] != "complete":
            res["study"]["status"] = f"no data: prepare {prep['status']}"
            save(f"prepare {prep['status']}")
            return 1
        meta = prep["rows"][0]
        c = meta["counts"]
        res["study"]["data"] = f"{meta['description']}: {c['train']} train / {c['val']} val / {c['test']} test"
        res["data"] = meta
        save("running")
        left = deadline - FINAL_S - time.time()
        if args.workloads:
            tp = run_child("throughput", args, time.time() + args.throughput_share * left, extra)
        else:
            tp = {"status": "complete", "seconds": 0.0, "rows": []}
        res["phases"]["throughput"] = {"status": tp["status"], "seconds": tp["seconds"]}
        table = throughput_table(tp["rows"], args.compile == "on")
        res["throughput"].update(batch=args.batch, steps=args.steps, repeats=args.repeats, rows=tp["rows"], table=table)
        nin = table.get("nin-rotation", {})
        best = max(nin.get("engine") or 0, nin.get("engine_eager") or 0)
        if best:
            samples = 4 * best
            res["bar"] = {
                "samples_per_s": round(BAR_SAMPLES_PER_S),
                "engine_samples_per_s": round(samples),
                "fraction": round(samples / BAR_SAMPLES_PER_S, 3),
                "nin_200_epochs_min": round(200 * BAR_IMAGES * 4 / samples / 60, 1),
                "note": f"training steps only, {BAR_IMAGES:,} images per epoch, the faster engine (compiled or eager)",
            }
        save("running")
        run_costs(args, res, min(deadline - FINAL_S, time.time() + args.costs_share * left), extra)
        save("running")
        compile_ = study_compile(table, args.study_compile)
        st = run_child("study", args, deadline - FINAL_S, [*extra, "--study-compile", compile_])
        res["phases"]["study"] = {"status": st["status"], "seconds": st["seconds"]}
        res["study"]["status"] = st["status"]
        for row in st["rows"]:
            res["study"][row.pop("part")] = row
        save(overall_status(res))
    finally:
        if own_work:
            shutil.rmtree(args.work, ignore_errors=True)
    print(summary(res), flush=True)
    log(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if {"--paper", "--paper-control"} & set(argv):  # the paper's whole protocol, across calls
        import paper_run

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
    ap.add_argument("--compile", choices=["on", "off"], default="on", help="torch.compile in the throughput table")
    ap.add_argument("--study-compile", choices=["auto", "on", "off"], default="auto",
                    help="auto: compile the study if that made the NIN engine 15%% faster")  # fmt: skip
    ap.add_argument("--throughput-share", type=float, default=0.42, help="share of the box after prepare")
    ap.add_argument(
        "--cost-backbones",
        nargs="*",
        default=committed_backbones(),
        help="backbones whose supervised and rotation training the cost probe measures (default: params.yaml's "
        "study.backbones; none: no probe)",
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
        help="fixed epochs instead of what fits the box (200 100: the paper's; the box still applies)",
    )
    ap.add_argument("--calibration-steps", type=int, default=30, help="timed steps sizing the study's epochs")
    ap.add_argument("--min-measure-s", type=float, default=8.0, help="skip a measurement with less time left")
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--phase", choices=list(PHASES), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--until", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    unknown = sorted(set(args.workloads) - set(WORKLOADS))
    if unknown:
        ap.error(f"--workloads: unknown {unknown}; choose from {WORKLOADS}")
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
