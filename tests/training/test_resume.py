"""Resume after a kill, refuse mismatched or damaged checkpoints, stop on NaN."""

from __future__ import annotations

import time

import pytest
import torch

from rotnet.data.device import DeviceDataset
from rotnet.errors import RotnetError
from rotnet.models.registry import create_backbone
from rotnet.params import RuntimeParams, TrainParams
from rotnet.training.engine import Checkpointing, Engine
from rotnet.training.tasks import SupervisedTask
from tests.synthetic import dataset

CPU = torch.device("cpu")
CFG = TrainParams(epochs=4, batch_size=32, schedule={"name": "step", "milestones": [2]}, augment={"cutmix_prob": 0.5})


class Killed(Exception):
    pass


def _fit(path, fingerprint=None, on_epoch=None, task_cls=SupervisedTask):
    torch.manual_seed(0)
    engine = Engine(DeviceDataset.from_prepared(dataset(), CPU), RuntimeParams(device="cpu"), CPU)
    task = task_cls(create_backbone("nin", 4, options={"width": 16}), 4)
    ckpt = Checkpointing(path, 1, fingerprint or {"params": "a"})
    return engine.fit(task, CFG, 1, "t", on_epoch, ckpt)


def _stop_after(epoch):
    def hook(row):
        if row["epoch"] == epoch:
            raise Killed

    return hook


EPOCH_IMAGES = 256  # 8 steps of 32 (tests.synthetic's train split)


def _timed_fit(path, **kw):
    t0 = time.monotonic()
    result = _fit(path, **kw)
    return result, time.monotonic() - t0


def test_resumed_run_ends_exactly_like_an_uninterrupted_one(tmp_path):
    whole = _fit(tmp_path / "a.pt")
    with pytest.raises(Killed):  # dies during epoch 2: the checkpoint holds epoch 1
        _fit(tmp_path / "b.pt", on_epoch=_stop_after(2))
    with pytest.raises(Killed):  # resumed, then dies during epoch 4: the checkpoint holds epoch 3
        _fit(tmp_path / "b.pt", on_epoch=_stop_after(4))
    resumed, last_segment_s = _timed_fit(tmp_path / "b.pt")
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(whole.history, resumed.history, strict=True):
        assert a["val_acc/supervised"] == b["val_acc/supervised"] and a["train_loss"] == b["train_loss"]
    assert whole.outputs["supervised"].test_confusion == resumed.outputs["supervised"].test_confusion
    assert whole.outputs["supervised"].best_epoch == resumed.outputs["supervised"].best_epoch

    # The counts cover the whole run, not the last segment (which trained epoch 4 alone).
    assert whole.train_images == resumed.train_images == 4 * EPOCH_IMAGES
    assert whole.extra["segments"] == 1 and resumed.extra["segments"] == 3
    # Train time is the sum of the kept epochs' times, each in the history; images/s follows.
    kept = sum(EPOCH_IMAGES / r["images_per_s"] for r in resumed.history)
    assert resumed.train_time_s == pytest.approx(kept)
    assert resumed.images_per_s == pytest.approx(4 * EPOCH_IMAGES / kept)
    # Wall time adds the earlier segments' (up to their checkpoints) to the last one's.
    assert resumed.wall_time_s > last_segment_s
    assert resumed.wall_time_s >= resumed.train_time_s
    times = [r["time_s"] for r in resumed.history]
    assert times == sorted(times) and resumed.wall_time_s >= times[-1]


def test_a_checkpoint_without_counts_resumes_with_whole_images_and_this_segments_wall_time(tmp_path, capsys):
    path = tmp_path / "old.pt"
    with pytest.raises(Killed):  # the checkpoint holds epoch 1
        _fit(path, on_epoch=_stop_after(2))
    state = torch.load(path, weights_only=True)
    for key in ("train_images", "wall_time", "segments"):  # as written before these were saved
        del state[key]
    torch.save(state, path)
    resumed, segment_s = _timed_fit(path)
    assert "predates whole-run times; wall time covers this segment only" in capsys.readouterr().err
    assert resumed.train_images == 4 * EPOCH_IMAGES  # epoch 1's images are known from the checkpoint's epoch
    assert resumed.images_per_s == pytest.approx(resumed.train_images / resumed.train_time_s)
    assert resumed.extra["segments"] is None  # unknown
    assert resumed.wall_time_s <= segment_s


def test_a_finished_run_is_not_resumed(tmp_path):
    _fit(tmp_path / "c.pt")
    again = _fit(tmp_path / "c.pt")
    assert [r["epoch"] for r in again.history] == [1, 2, 3, 4]


def test_mismatched_checkpoint_is_refused_with_the_way_out(tmp_path):
    with pytest.raises(Killed):
        _fit(tmp_path / "d.pt", {"params": "a", "data": "x"}, on_epoch=_stop_after(2))
    with pytest.raises(RotnetError, match=r"made with other data than the current ones.*rm .*d\.pt.*resume: false"):
        _fit(tmp_path / "d.pt", {"params": "a", "data": "y"})


def test_damaged_checkpoint_gets_a_clear_error(tmp_path):
    with pytest.raises(Killed):
        _fit(tmp_path / "e.pt", on_epoch=_stop_after(2))
    data = (tmp_path / "e.pt").read_bytes()
    (tmp_path / "e.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(RotnetError, match="is damaged"):
        _fit(tmp_path / "e.pt")


class NanAtEpoch4Step5(SupervisedTask):
    calls = 0

    def forward(self, x, y):
        logits, targets = super().forward(x, y)
        if self.model.training and len(x) == 32:  # training steps (not the memory estimate's pass)
            NanAtEpoch4Step5.calls += 1
            if NanAtEpoch4Step5.calls == 3 * 8 + 5:  # 256 images / 32 = 8 steps per epoch
                logits = {k: v * float("nan") for k, v in logits.items()}
        return logits, targets


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    NanAtEpoch4Step5.calls = 0
    path = tmp_path / "f.pt"
    with pytest.raises(RotnetError, match=r"NaN or infinite in epoch 4, step 5; the last good checkpoint"):
        _fit(path, task_cls=NanAtEpoch4Step5)
    state = torch.load(path, weights_only=True)
    assert not state["complete"] and state["epoch"] == 3
    assert all(torch.isfinite(v).all() for v in state["modules"][0].values() if v.is_floating_point())


def _stage_project(root, epochs=6):
    import yaml

    from rotnet.data.prepared import save_prepared

    data = dataset(n_train=2048, n_val=128, n_test=128, classes=4, size=16)
    save_prepared(root / "data/prepared/cifar10", {"train": data.train, "val": data.val, "test": data.test}, data.meta)
    params = {
        "study": {"datasets": ["cifar10"], "backbones": ["nin"]},
        "runtime": {"device": "cpu", "checkpoint_every": 1},
        "backbones": {"nin": {"width": 16}},
        "supervised": {"epochs": epochs, "batch_size": 64, "schedule": {"milestones": [4]}},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.mark.slow
def test_sigkill_mid_training_then_rerun_gives_the_uninterrupted_metrics(tmp_path):
    import json
    import shutil
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = str(Path(__file__).resolve().parents[2] / "stages" / "supervised.py")
    cmd = [sys.executable, script, "--dataset", "cifar10", "--backbone", "nin"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for root in (whole, killed):
        root.mkdir()
        _stage_project(root)
    subprocess.run(cmd, cwd=whole, check=True, capture_output=True, timeout=300)

    ckpt = killed / "checkpoints/cifar10/nin/supervised/last.pt"
    proc = subprocess.Popen(cmd, cwd=killed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if ckpt.is_file() and torch.load(ckpt, weights_only=True)["epoch"] >= 2:
            break
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = torch.load(ckpt, weights_only=True)
    assert not state["complete"] and 2 <= state["epoch"] < 6
    # The history was there while the stage ran, an epoch a row (DVC plots draw a running stage).
    live = (killed / "metrics/runs/cifar10/nin/supervised_history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in live[1:]][: state["epoch"]] == [str(e) for e in range(1, state["epoch"] + 1)]
    assert not (killed / "metrics/runs/cifar10/nin/supervised.json").exists()

    # The killed run continues in another clone (docs/sharing.md): its checkpoint folder copied there.
    moved = tmp_path / "moved"
    moved.mkdir()
    _stage_project(moved)
    shutil.copytree(killed / "checkpoints", moved / "checkpoints")
    killed = moved
    rerun = subprocess.run(cmd, cwd=killed, check=True, capture_output=True, text=True, timeout=300)
    assert f"resuming after epoch {state['epoch']}" in rerun.stderr

    def result(root):
        m = json.loads((root / "models/cifar10/nin/supervised/run.json").read_text())  # the run record
        return {k: m[k] for k in ("val_acc", "test_acc", "best_epoch", "test_confusion", "epochs")}

    assert result(killed) == result(whole)
    # The resumed run's model is the uninterrupted run's, byte for byte.
    model = "models/cifar10/nin/supervised/model.pt"
    assert (killed / model).read_bytes() == (whole / model).read_bytes()
    rows = (killed / "metrics/runs/cifar10/nin/supervised_history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == [str(e) for e in range(1, 7)]  # continued, no repeat
    # The record reports the whole run: its images/s is over all 6 epochs, both segments'
    # (each epoch's rate is in the history; equal epochs, so their harmonic mean).
    runs = {r: json.loads((r / "models/cifar10/nin/supervised/run.json").read_text()) for r in (whole, killed)}
    assert runs[whole]["segments"] == 1 and runs[killed]["segments"] == 2
    rates = [float(row.split(",")[rows[0].split(",").index("images_per_s")]) for row in rows[1:]]
    assert runs[killed]["images_per_s"] == pytest.approx(len(rates) / sum(1 / r for r in rates), abs=0.1)
    assert runs[killed]["wall_time_s"] >= runs[killed]["train_time_s"]
