"""benchmarks/zoo_smoke.py (make zoo-smoke): brief runs of each backbone's committed recipe
on an image folder, one JSON per run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import zoo_smoke  # noqa: E402

from rotnet.params import load_params  # noqa: E402


def _image_folder(root: Path, classes: int = 3, train: int = 24, test: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", train), ("test", test)):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 60, (16, 16, 3)).astype(np.uint8)
                img[: 2 + 3 * c, 2:14, c] = 230  # class and orientation cue
                Image.fromarray(img).save(folder / f"{i:03d}.png")
    return root


def test_compressed_keeps_the_schedule_shape():
    params = load_params(ROOT / "params.yaml")
    cfg = zoo_smoke.compressed(params.recipe("supervised", "nin"), 10)  # milestones 60/120/160 of 200
    assert cfg.epochs == 10 and cfg.schedule.milestones == [3, 6, 8]
    b0 = zoo_smoke.compressed(params.recipe("supervised", "efficientnet_b0"), 4)  # 5 warm-up epochs of 200
    assert b0.schedule.warmup_epochs == 1  # kept, at least one epoch
    assert zoo_smoke.compressed(params.recipe("supervised", "nin"), 1).schedule.warmup_epochs == 0


def test_sets_override_nested_keys_as_yaml():
    raw = {"supervised": {"optimizer": {"lr": 0.1}}}
    out = zoo_smoke.apply_sets(raw, ["supervised.optimizer.lr=0.05", "backbones.nin.width=8"])
    assert out["supervised"]["optimizer"]["lr"] == 0.05 and out["backbones"]["nin"]["width"] == 8
    with pytest.raises(SystemExit, match="KEY.PATH=VALUE"):
        zoo_smoke.apply_sets(raw, ["supervised.optimizer.lr"])


def test_a_smoke_run_writes_one_json_per_run_never_overwriting(tmp_path, capsys):
    data = _image_folder(tmp_path / "images")
    out = tmp_path / "results"
    args = ["--backbones", "nin", "resnet18", "--epochs", "2", "1", "--classes", "2", "--val-per-class", "4"]
    args += ["--data", str(data), "--out", str(out), "--set", "backbones.nin.width=8"]
    args += [
        "--set",
        "backbones.resnet18.width=4",
        "--set",
        "supervised.batch_size=8",
        "--set",
        "pretrain.batch_size=4",
    ]
    assert zoo_smoke.main(args) == 0
    (path,) = out.glob("*.json")
    res = json.loads(path.read_text())
    assert res["kind"] == "rotnet zoo-smoke" and "first 2 classes (class0, class1)" in res["data"]
    assert res["counts"] == {"train": 40, "val": 8, "test": 12}
    rows = {(r["backbone"], r["task"]): r for r in res["rows"]}
    assert set(rows) == {(b, t) for b in ("nin", "resnet18") for t in ("supervised", "rotation")}
    sup, rot = rows[("nin", "supervised")], rows[("nin", "rotation")]
    assert len(sup["train_loss"]) == 2 and len(rot["train_loss"]) == 1
    assert sup["chance_loss"] == pytest.approx(0.6931, abs=1e-4) and rot["chance_acc"] == 25.0
    assert sup["recipe"]["batch_size"] == 8 and sup["recipe"]["epochs"] == 2 and sup["images_per_s"] > 0
    assert 0 <= sup["test_acc"] <= 100 and 1 <= sup["best_epoch"] <= 2
    assert "nin                supervised loss" in capsys.readouterr().out

    assert zoo_smoke.main([*args, "--backbones", "nin", "--tasks", "supervised"]) == 0  # a second run, same day
    assert len(list(out.glob("*.json"))) == 2
    assert json.loads(path.read_text()) == res  # the first is untouched


def test_bad_arguments_are_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        zoo_smoke.main(["--data", str(tmp_path / "missing")])
    assert "does not exist" in capsys.readouterr().err
    data = _image_folder(tmp_path / "images", classes=2, train=6, test=2)
    with pytest.raises(SystemExit, match="--classes 3"):
        zoo_smoke.main(["--data", str(data), "--classes", "3", "--val-per-class", "1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        zoo_smoke.main(["--data", str(data), "--backbones", "vgg", "--out", str(tmp_path)])
    assert "'vgg'" in capsys.readouterr().err and not list(tmp_path.glob("*.json"))
