"""A small fake study for the report tests: run records, histories, a prepared dataset
and one real (tiny) saved classifier per dataset, written under a folder in the layout
of rotnet/paths.py. Figures are chosen so that selecting on test would pick differently
from selecting on validation."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rotnet import paths
from rotnet.params import Params

CLASSES = ["cat", "dog", "ship"]
DATA = {"cifar10": "cifar10 (image folder images)", "shapes": "shapes (image folder images)"}
BACKBONE_OPTIONS = {"nin": {"blocks": 4, "width": 8}, "resnet18": {"width": 8}}
LAYERS = {"nin": ["block1", "block2", "block3", "block4"], "resnet18": ["layer1", "layer2", "layer3", "layer4"]}
SEMISUP_LABELS = [20, 100]  # 20 and 100 have paper figures (fig. 5b)
SIZE = 16
FIGURES = ("curves", "confusion", "samples", "semisup")  # per dataset, under metrics/report_files
RECIPE = {
    "optimizer": "sgd",
    "lr": 0.1,
    "weight_decay": 0.0005,
    "schedule": "step",
    "batch_size": 8,
    "label_smoothing": 0.0,
    "crop_padding": 4,
    "flip": True,
    "resize_scale": None,
    "autoaugment": False,
    "cutmix_prob": 0.0,
}

# (val, test) per classifier. The best on validation is nin's conv head fine-tuned; resnet18
# supervised has the best test accuracy, so a report that selected on test would show it
# instead (and nin's fine-tuned non-linear head would beat the conv head).
CLASSIFIER_ACC = {
    ("nin", "supervised"): (70.0, 71.25),
    ("nin", "finetune/conv"): (80.0, 78.5),
    ("nin", "finetune/nonlinear"): (77.0, 79.5),
    ("resnet18", "supervised"): (75.0, 85.75),
    ("resnet18", "finetune/conv"): (72.0, 73.0),
    ("resnet18", "finetune/nonlinear"): (71.0, 72.5),
    ("nin3", "supervised"): (70.0, 69.5),  # the 3-block baseline, trained on cifar10 only
}
# NIN probes: block2 nonlinear is best on validation (val 70, test 68); the conv head on
# block2 and block3 nonlinear have higher test but lower validation accuracy.
NIN_PROBES = {
    "block1": {"nonlinear": (60.0, 61.0), "linear": (55.0, 56.0)},
    "block2": {"nonlinear": (70.0, 68.0), "linear": (65.0, 64.0), "conv": (69.5, 74.0)},
    "block3": {"nonlinear": (69.0, 72.0), "linear": (66.0, 67.0)},
    "block4": {"nonlinear": (50.0, 51.0), "linear": (45.0, 46.0)},
}
# The weighted kNN probe per layer: (val, test), with the k and temperature chosen on val.
KNN = {
    "nin": {"block1": (52.0, 53.0), "block2": (62.5, 61.0), "block3": (58.0, 59.25), "block4": (40.0, 41.0)},
    "resnet18": {layer: (35.0 + 4 * i, 36.0 + 4 * i) for i, layer in enumerate(LAYERS["resnet18"])},
}
RESNET_PROBES = {
    layer: {"nonlinear": (40.0 + 5 * i, 41.0 + 5 * i), "linear": (30.0 + 5 * i, 31.0 + 5 * i)}
    for i, layer in enumerate(LAYERS["resnet18"])
}


def make_params(datasets: tuple[str, ...] = ("cifar10", "shapes"), semisup: tuple[str, ...] = ("nin",)) -> Params:
    # Validated as params.yaml is, except against the model registry (not the report's concern).
    return Params.model_validate(
        {
            "study": {"datasets": list(datasets), "backbones": ["nin", "resnet18"], "baselines": ["nin3"]},
            "datasets": {d: {} for d in datasets},
            "backbones": {
                **BACKBONE_OPTIONS,
                "efficientnet_b0": {"small_input": "stride"},
                "efficientnet_b0_upsample": {"arch": "efficientnet_b0", "small_input": "upsample", "upsample_size": 64},
            },
            "semisup": {"backbones": list(semisup), "labels_per_class": SEMISUP_LABELS},
        }
    )


def _common(stage: str, dataset: str, backbone: str, epochs: int, wall: float, ips: float) -> dict[str, Any]:
    return {
        "stage": stage,
        "dataset": dataset,
        "data": DATA[dataset],
        "backbone": backbone,
        "recipe": {**RECIPE, "epochs": epochs},
        "epochs": epochs,
        "wall_time_s": wall,
        "train_time_s": wall - 1,
        "images_per_s": ips,
        "device": "cpu (2 threads)",
        "precision": "fp32",
        "tf32": None,
        "train_images": 120,
        "data_official": False,
        "backbone_options": {**BACKBONE_OPTIONS.get(backbone, {"blocks": 3, "width": 8}), "init": "kaiming"},
        "processes": 1,
        "host": "testhost",
        "torch": "2.x",
    }


def _classifier(stage: str, dataset: str, backbone: str) -> dict[str, Any]:
    val, test = CLASSIFIER_ACC[(backbone, stage)]
    return {
        **_common(stage, dataset, backbone, 3, 12.5, 1234.5),
        "val_acc": val,
        "test_acc": test,
        "best_epoch": 2,
        "per_class_test_acc": {c: test for c in CLASSES},
        "test_confusion": [[4, 1, 0], [0, 3, 1], [1, 0, 4]],
        **({"pretrained_tensors": 42} if stage.startswith("finetune/") else {}),
    }


def records(dataset: str, backbone: str) -> dict[str, dict[str, Any]]:
    """The run records of one dataset x backbone: supervised, pretrain, probe and both fine-tuned heads."""
    probes = NIN_PROBES if backbone == "nin" else RESNET_PROBES
    layers = {
        layer: {head: {"val_acc": v, "test_acc": t, "best_epoch": 1} for head, (v, t) in heads.items()}
        for layer, heads in probes.items()
    }
    best_layer, best_head = "block2" if backbone == "nin" else "layer4", "nonlinear"
    v, t = probes[best_layer][best_head]
    return {
        "supervised": _classifier("supervised", dataset, backbone),
        "pretrain": {
            **_common("pretrain", dataset, backbone, 4, 30.0, 99.5),
            "rotation_val_acc": 90.0,
            "rotation_test_acc": 89.5,
            "best_epoch": 4,
            "per_rotation_test_acc": {"0": 90.0, "90": 89.0, "180": 89.0, "270": 90.0},
        },
        "probe": {
            **_common("probe", dataset, backbone, 2, 20.0, 500.0),
            "best": {"layer": best_layer, "head": best_head, "val_acc": v, "test_acc": t},
            "layers": layers,
            "knn": {
                layer: {"k": 20, "temperature": 0.07, "val_acc": v, "test_acc": t}
                for layer, (v, t) in KNN[backbone].items()
            },
        },
        # The paper's setting: the RotNet up to its conv-head map + each fresh head.
        **{
            f"finetune/{head}": {
                **_classifier(f"finetune/{head}", dataset, backbone),
                "setting": "paper",
                "layer": "block2" if backbone == "nin" else "layer4",
                "head": head,
            }
            for head in ("conv", "nonlinear")
        },
    }


# Controls shift the RotNet's probe figures: random init below, supervised above.
CONTROL_SHIFT = {"random": -20.0, "supervised": 10.0}


def control_record(dataset: str, backbone: str) -> dict[str, Any]:
    probes = NIN_PROBES if backbone == "nin" else RESNET_PROBES
    record: dict[str, Any] = {**_common("control", dataset, backbone, 2, 0.0, 0.0), "inits": list(CONTROL_SHIFT)}
    for init, d in CONTROL_SHIFT.items():
        record[init] = {
            "layers": {
                layer: {head: {"val_acc": v + d, "test_acc": t + d, "best_epoch": 1} for head, (v, t) in heads.items()}
                for layer, heads in probes.items()
            },
            "knn": {layer: {"val_acc": v + d, "test_acc": t + d} for layer, (v, t) in KNN[backbone].items()},
            "wall_time_s": 5.0,
            "images_per_s": 400.0,
        }
    return record


def semisup_record(dataset: str, backbone: str) -> dict[str, Any]:
    def run(acc: float) -> dict[str, Any]:
        return {"val_acc": acc + 1, "test_acc": acc, "best_epoch": 1, "wall_time_s": 3.0}

    points = [
        {
            "labels_per_class": n,
            "train_images": 3 * n,
            "val_images": 3 * min(n, 40),
            "scratch": run(30.0 + i),
            "rotnet": run(50.0 + 2 * i),
        }
        for i, n in enumerate(SEMISUP_LABELS)
    ]
    return {
        "stage": "semisup",
        "dataset": dataset,
        "data": DATA[dataset],
        "backbone": backbone,
        "epochs": {"scratch": 3, "rotnet": 2},
        "epoch_size": {"scratch": 500, "rotnet": 400},
        "scratch_backbone": "nin3",
        "conv_head_layer": "block2",
        "recipe": {"scratch": dict(RECIPE), "rotnet": dict(RECIPE)},
        "device": "cpu (2 threads)",
        "host": "testhost",
        "torch": "2.x",
        "points": points,
    }


def small_input_record(dataset: str) -> dict[str, Any]:
    def choice(arch: str, options: dict[str, Any], val: float, test: float, params: int) -> dict[str, Any]:
        return {
            "arch": arch,
            "options": options,
            "val_acc": val,
            "test_acc": test,
            "best_epoch": 1,
            "images_per_s": 321.25,
            "wall_time_s": 7.5,
            "parameters": params,
        }

    return {
        "stage": "small_input",
        "dataset": dataset,
        "data": DATA[dataset],
        "train_images": 60,
        "epochs": 1,
        "recipe": dict(RECIPE),
        "device": "cpu (2 threads)",
        "host": "testhost",
        "torch": "2.x",
        "choices": {
            "efficientnet_b0": choice("efficientnet_b0", {"small_input": "stride"}, 30.5, 31.5, 4_020_358),
            "efficientnet_b0_upsample": choice(
                "efficientnet_b0", {"small_input": "upsample", "upsample_size": 64}, 33.0, 34.25, 4_020_358
            ),
        },
    }


def history(stage: str, outputs: list[str], epochs: int = 3) -> pd.DataFrame:
    rows = []
    for e in range(1, epochs + 1):
        row: dict[str, Any] = {"epoch": e, "lr": 0.1, "train_loss": 2.0 / e, "val_loss": 2.1 / e}
        for i, out in enumerate(outputs):
            row[f"train_acc/{out}"] = 30.0 + 10 * e + i
            row[f"val_acc/{out}"] = 28.0 + 10 * e + i
        rows.append({**row, "images_per_s": 1000.0, "time_s": 1.5 * e})
    return pd.DataFrame(rows)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def write_prepared(root: Path, dataset: str) -> dict[str, Any]:
    from rotnet.data.prepared import Split, channel_stats, save_prepared

    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        return Split(rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8), np.arange(n) % len(CLASSES))

    splits = {"train": split(6), "val": split(6), "test": split(12)}
    mean, std = channel_stats(splits["train"].images)
    meta = {"name": dataset, "class_names": CLASSES, "mean": mean, "std": std, "description": DATA[dataset]}
    save_prepared(root / paths.prepared_dir(dataset), splits, meta)
    return meta


def write_model(root: Path, kind: str, dataset: str, backbone: str, meta: dict[str, Any]) -> None:
    """A real, untrained classifier file that rotnet.inference.model.load_model reads (``kind``:
    where it is, e.g. finetune/conv; the file records the stage, finetune)."""
    import torch

    from rotnet.models.registry import create_backbone
    from rotnet.models.saved import model_state, save_model_file

    torch.manual_seed(0)
    options = BACKBONE_OPTIONS[backbone]
    model = create_backbone(backbone, len(CLASSES), 3, options)
    state = model_state(
        model,
        kind=kind.split("/")[0],
        backbone=backbone,
        backbone_options=options,
        num_classes=len(CLASSES),
        in_chans=3,
        input_size=[SIZE, SIZE],
        mean=meta["mean"],
        std=meta["std"],
        class_names=CLASSES,
        dataset=dataset,
        preprocess={"content_size": None, "resize": None, "pad_to": None, "channels": None},
    )
    save_model_file(root / paths.model_file(kind, dataset, backbone), state)


def write_study(root: Path, params: Params, *, models: bool = True) -> None:
    """Everything the report stage reads, for every dataset x backbone of ``params``."""
    for dataset in params.study.datasets:
        for backbone in params.study.backbones:
            for kind, rec in records(dataset, backbone).items():
                _write_json(root / paths.record_file(kind, dataset, backbone), copy.deepcopy(rec))
            outputs = {
                "supervised": ["supervised"],
                "pretrain": ["rotation"],
                "probe": [f"{layer}_nonlinear" for layer in LAYERS[backbone]],
                "finetune/conv": ["finetune"],
                "finetune/nonlinear": ["finetune"],
            }
            for kind, outs in outputs.items():
                target = root / paths.history_file(kind, dataset, backbone)
                target.parent.mkdir(parents=True, exist_ok=True)
                history(kind, outs).to_csv(target, index=False)
        for backbone in params.semisup.backbones:
            _write_json(root / paths.record_file("semisup", dataset, backbone), semisup_record(dataset, backbone))
        if dataset == "cifar10":  # controls and a baseline the other dataset lacks: simply absent there
            for backbone in params.study.backbones:
                _write_json(root / paths.record_file("control", dataset, backbone), control_record(dataset, backbone))
            for backbone in params.study.baselines:
                _write_json(
                    root / paths.record_file("supervised", dataset, backbone),
                    _classifier("supervised", dataset, backbone),
                )
        _write_json(root / paths.small_input_record(dataset), small_input_record(dataset))
        if models:
            meta = write_prepared(root, dataset)
            write_model(root, "finetune/conv", dataset, "nin", meta)  # the validation-selected classifier
