"""The paper run's box: a stage stopped right after a checkpoint only when the next epoch
(and, before the last, the stage's closing work) would not fit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from benchmarks.gpu.paper_box import Box, BoxReached, Progress


def fake_save(path, fingerprint, epoch, complete, *rest):
    """save_resume_state's leading parameters, writing nothing."""


def box(tmp_path: Path, left_s: float, finish_s: float = 0.0) -> Box:
    progress = Progress(tmp_path / "progress.json", call=1)
    b = Box(progress, time.time() + left_s, finish_s, None, real=fake_save)
    b.begin("pretrain")
    return b


def test_the_box_stops_after_a_checkpoint_only_when_the_next_epoch_would_not_fit(tmp_path):
    fp = {"params": {"epochs": 5}}
    box(tmp_path, 60).save_then_check("ckpt", fp, 1, False)  # fits: goes on
    with pytest.raises(BoxReached, match="epoch 2"):
        box(tmp_path, -1).save_then_check("ckpt", fp, 1, False)
    box(tmp_path, -1).save_then_check("ckpt", fp, 5, True)  # the finished run's marker: never stopped
    # Before the last epoch, the stage's closing work (test pass, kNN, outputs) must fit too.
    box(tmp_path, 60, finish_s=30).save_then_check("ckpt", fp, 3, False)
    with pytest.raises(BoxReached, match="epoch 5"):
        box(tmp_path, 60, finish_s=120).save_then_check("ckpt", fp, 4, False)
    progress = json.loads((tmp_path / "progress.json").read_text())["pretrain"]
    assert progress["epoch"] == 4 and progress["epochs"] == 5
    # A call's first epoch, 50 s with its start-up, is not taken for the next one's time: the
    # stage's measured epochs (2 s) are.
    b = box(tmp_path, 10)
    b.progress.entry("pretrain")["epoch_s"] = [2.0, 2.0]
    b.progress.mark -= 50
    b.save_then_check("ckpt", fp, 2, False)
    with pytest.raises(BoxReached, match="about 50 s"):
        b.progress.mark -= 50
        b.save_then_check("ckpt", fp, 3, False)
