"""The paper run's box, in its child: each stage's progress recorded at every checkpoint,
and the stage stopped right after one when the next epoch would not fit the call."""

from __future__ import annotations

import inspect
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.gpu.common import read_json, write_json


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
