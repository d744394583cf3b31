"""Resumable training state: everything fit() needs to continue a killed run exactly.

Saved atomically every few epochs. A run resumes only from an unfinished checkpoint made
with the same params and data; any other mismatch stops with a message saying how to
start fresh, never silently.

The state also carries the run's counts so far (images trained, wall time, segments: the
fit() calls the run took), so that a resumed run reports the whole run. A checkpoint
written before they were saved still resumes: its counts come back as None (unknown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rotnet.atomic import torch_bytes, write_bytes
from rotnet.errors import RotnetError
from rotnet.progress import log

FORMAT = "rotnet-resume-v1"
Best = dict[str, tuple[float, int, dict[str, torch.Tensor]]]


@dataclass(frozen=True)
class Counts:
    """What a run has done up to a checkpoint, over all its segments so far."""

    train_time: float  # seconds of optimizer steps
    train_images: int | None = None  # None: a checkpoint from before these were saved
    wall_time: float | None = None  # seconds from each segment's start to its last checkpoint
    segments: int | None = None  # fit() calls, this one included (1: never resumed)


@dataclass(frozen=True)
class Resumed:
    next_epoch: int
    best: Best
    history: list[dict[str, float]]
    counts: Counts


@dataclass
class Progress:
    """A run's state across epochs and segments, as Engine.fit keeps it: the next epoch, each
    output's best (val acc, epoch, weights), the history, and the counts over all segments."""

    first_epoch: int = 1
    best: Best = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    train_time: float = 0.0
    train_images: int = 0
    wall_before: float | None = 0.0  # the earlier segments' wall time (None: unknown)
    segments: int | None = 1

    def counts(self, time_s: float) -> Counts:
        """The counts a checkpoint saves, ``time_s`` seconds into the whole run."""
        return Counts(self.train_time, self.train_images, None if self.wall_before is None else time_s, self.segments)


def resume_progress(
    path: Path, fingerprint: dict[str, Any], desc: str, loops: tuple[Any, ...], epoch_images: int, is_main: bool
) -> Progress:
    """A fresh run's progress, or the one the checkpoint at ``path`` kept (``loops``: task,
    optimizer and schedule, restored in place); this segment adds to the counts it held."""
    run = Progress()
    resumed = load_resume_state(path, fingerprint, desc, *loops)
    if resumed is None:
        return run
    was = resumed.counts
    run.first_epoch, run.best, run.history = resumed.next_epoch, resumed.best, resumed.history
    run.train_time = was.train_time
    # An older checkpoint's images are known all the same: its fingerprint fixes steps and batch.
    run.train_images = epoch_images * (run.first_epoch - 1) if was.train_images is None else was.train_images
    run.wall_before = was.wall_time
    run.segments = None if was.segments is None else was.segments + 1
    if was.wall_time is None and is_main:
        log(f"{desc}: {path} predates whole-run times; wall time covers this segment only")
    return run


def _rng_state() -> dict[str, Any]:
    # Data order and augmentation are seeded per epoch; the global streams (dropout) are not.
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def save_resume_state(
    path: Path,
    fingerprint: dict[str, Any],
    epoch: int,
    complete: bool,
    best: Best,
    history: list[dict[str, float]],
    counts: Counts,
    task: Any,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
) -> None:
    if complete:
        # A finished run needs no resume state: keep only a small marker (the outputs hold the rest).
        write_bytes(path, torch_bytes({"format": FORMAT, "fingerprint": fingerprint, "epoch": epoch, "complete": True}))
        return
    state = {
        "format": FORMAT,
        "fingerprint": fingerprint,
        "epoch": epoch,
        "complete": False,
        "modules": [m.state_dict() for m in task.modules()],
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "best": {o: {"val_acc": v, "epoch": e, "state": st} for o, (v, e, st) in best.items()},
        "history": history,
        "train_time": counts.train_time,  # the name older checkpoints used
        "train_images": counts.train_images,
        "wall_time": counts.wall_time,
        "segments": counts.segments,
        "rng": _rng_state(),
    }
    write_bytes(path, torch_bytes(state))  # via Python, so a full disk is a clear error


def _differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    keys = sorted(set(saved) | set(current))
    return [k for k in keys if saved.get(k) != current.get(k)]


def load_resume_state(
    path: Path,
    fingerprint: dict[str, Any],
    desc: str,
    task: Any,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
) -> Resumed | None:
    """Restore an unfinished run and return what fit() continues from, or None (nothing to resume)."""
    if not path.is_file():
        return None
    fresh = f"to start fresh, delete it (rm {path}) or set runtime.resume: false"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated or foreign files raise many types
        raise RotnetError(f"{desc}: checkpoint {path} is damaged ({type(err).__name__}: {err}); {fresh}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise RotnetError(f"{desc}: {path} is not a rotnet training checkpoint; {fresh}")
    if ckpt["complete"]:
        log(f"{desc}: {path} is from a finished run; starting fresh")
        return None
    changed = _differences(ckpt["fingerprint"], fingerprint)
    if changed:
        raise RotnetError(
            f"{desc}: checkpoint {path} (epoch {ckpt['epoch']}) was made with other {', '.join(changed)} "
            f"than the current ones, so it cannot be resumed; {fresh}"
        )
    for module, state in zip(task.modules(), ckpt["modules"], strict=True):
        module.load_state_dict(state)
    optimizer.load_state_dict(ckpt["optimizer"])
    schedule.load_state_dict(ckpt["schedule"])
    rng = ckpt["rng"]
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    best = {o: (b["val_acc"], b["epoch"], b["state"]) for o, b in ckpt["best"].items()}
    log(f"{desc}: resuming after epoch {ckpt['epoch']} from {path}")
    counts = Counts(float(ckpt["train_time"]), ckpt.get("train_images"), ckpt.get("wall_time"), ckpt.get("segments"))
    return Resumed(ckpt["epoch"] + 1, best, list(ckpt["history"]), counts)
