"""make gpu-check, part 3: the data, then the paper-protocol NIN study in what is left of
the box. The 4-block NIN RotNet pretrained with the paper's schedule compressed to the
epochs that fit (milestones scaled), then the paper's probes, through the study's own
prepare, pretrain and probe stage code; test accuracies beside the paper's."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

from benchmarks.gpu.children import emit
from benchmarks.gpu.common import PAPER_PRETRAIN_EPOCHS, PAPER_PROBE_EPOCHS, ROOT, device_of, log, scale_paper_epochs
from rotnet.report.gpu_check_schema import ThroughputFigures


def phase_prepare(args: argparse.Namespace, rows: Path) -> None:
    from rotnet import paths
    from rotnet.params import DatasetParams
    from rotnet.stages.prepare import prepare

    if args.data:
        cfg, source = DatasetParams(source="imagefolder", val_size=args.val_size), Path(args.data)
    else:  # the official archive, downloaded there (needs the internet)
        cfg, source = DatasetParams(source="download", val_size=5000), Path(args.work) / paths.raw_dir("cifar10")
    cfg = cfg.model_copy(update={"train_per_class": args.train_per_class})
    meta = prepare("cifar10", cfg, source, Path(args.work) / paths.prepared_dir("cifar10"), seed=0)
    emit(rows, {"description": meta["description"], "counts": meta["counts"], "checksum": meta["checksum"]})


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
    raw["study"]["methods"] = []  # RotNet's protocol alone; the methods' cost is the throughput phase's
    raw["finetune"]["methods"] = raw["semisup"]["methods"] = []
    raw["probe"]["tsne_images"] = 0  # no picture in a timed check (and the box has no scikit-learn)
    if args.width:
        raw["backbones"]["nin"]["width"] = args.width
    scale_paper_epochs(raw, pre_epochs, probe_epochs)
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


def study_epochs(asked: list[int] | None, cal: dict[str, float], left: float) -> tuple[int, int]:
    """The epochs asked for (the time box still stops the run), else what fits ``left``
    seconds less what is kept back: the test pass, kNN over every map, model files, and a
    tenth of the rest for error."""
    if asked:
        return asked[0], asked[1]
    spare = 0.1 * left + 3 * cal["probe_eval_s"] + 3
    return plan_epochs(left - spare, cal["pretrain_epoch_s"], cal["probe_epoch_s"])


def phase_study(args: argparse.Namespace, rows: Path) -> None:
    from rotnet.report import paper
    from rotnet.stages import pretrain, probe

    os.chdir(args.work)
    t0 = time.time()
    # Epochs asked for: nothing to size, so no calibration (it would only spend the box).
    cal = {} if args.epochs else calibrate(args, study_params(args, 2, 2))
    pre_epochs, probe_epochs = study_epochs(args.epochs, cal, args.until - time.time())
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


def study_compile(table: dict[str, ThroughputFigures], asked: str) -> str:
    """Compile the study when the compiled engine beat the eager one by 15% on NIN rotation."""
    if asked != "auto":
        return asked
    nin = table.get("nin-rotation", {})
    on, off = nin.get("engine"), nin.get("engine_eager")
    return "on" if on and off and on >= 1.15 * off else "off"
