"""The report's zoo smoke section: the newest `make zoo-smoke` JSON, labelled as a smoke run."""

from __future__ import annotations

import json
from pathlib import Path

from rotnet.report.zoo_smoke import latest_smoke, zoo_smoke_section

RECIPE = {"optimizer": "adamw", "lr": 0.002, "schedule": "cosine", "warmup_epochs": 1, "label_smoothing": 0.1}


def _result(**extra) -> dict:
    row = {
        "backbone": "efficientnet_b0",
        "task": "rotation",
        "recipe": {**RECIPE, "batch_size": 128},
        "epochs": 3,
        "chance_loss": 1.3863,
        "train_loss": [1.39, 1.37, 1.33],
        "val_acc": [25.0, 30.4, 42.9],
        "best_epoch": 3,
        "test_acc": 37.5,
        "chance_acc": 25.0,
        "micro_batch": 97,
        "images_per_s": 9.4,
    }
    failed = {"backbone": "resnet101", "task": "rotation", "error": "a training step needs\n about 40 GiB"}
    return {
        "date": "2026-11-28",
        "device": "cpu",
        "cpus": 2,
        "torch": "2.14.1",
        "data": "CIFAR-10 (JPEG copy), first 3 classes (airplane, automobile, bird)",
        "counts": {"train": 720, "val": 180, "test": 300},
        "sets": [],
        "rows": [row, failed],
        **extra,
    }


def test_section_labels_the_smoke_run_and_tabulates_each_run():
    text = "\n".join(zoo_smoke_section((Path("benchmarks/results/zoo-smoke/2026-11-28-vm.json"), _result())))
    assert "a smoke run, not the study" in text and "2026-11-28-vm.json" in text
    assert "720 train / 180 validation / 300 test images" in text and "first 3 classes" in text
    assert (
        "| efficientnet_b0 | rotation | adamw lr 0.002, cosine, warm-up 1, smoothing 0.1 | 3 "
        "| 1.39, 1.37, 1.33 (1.39) | 42.9 (epoch 3) | 37.5 (25.0) | 97 |" in text
    )
    assert "| resnet101 | rotation | failed: a training step needs about 40 GiB |" in text
    assert "Overrides" not in text
    with_sets = "\n".join(zoo_smoke_section((Path("x.json"), _result(sets=["supervised.optimizer.lr=0.05"]))))
    assert "Overrides: `supervised.optimizer.lr=0.05`." in with_sets
    assert zoo_smoke_section(None) == []


def test_latest_is_the_newest_date_then_the_highest_suffix(tmp_path):
    assert latest_smoke(tmp_path / "none") is None
    for name in ("2026-11-27-vm.json", "2026-11-28-vm.json", "2026-11-28-vm-2.json", "2026-11-28-vm-10.json"):
        (tmp_path / name).write_text(json.dumps({"name": name}))
    path, res = latest_smoke(tmp_path)
    assert path.name == "2026-11-28-vm-10.json" and res == {"name": "2026-11-28-vm-10.json"}
