"""Resumable training state: everything fit() needs to continue a killed run exactly.

Saved atomically every few epochs. A run resumes only from an unfinished checkpoint made
with the same params and data; any other mismatch stops with a message saying how to
start fresh, never silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rotnet.atomic import torch_bytes, write_bytes
from rotnet.errors import RotnetError
from rotnet.progress import log

FORMAT = "rotnet-resume-v1"
Best = dict[str, tuple[float, int, dict[str, torch.Tensor]]]


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
    train_time: float,
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
        "train_time": train_time,
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
) -> tuple[int, Best, list[dict[str, float]], float] | None:
    """Restore an unfinished run; return (next epoch, best, history, train time) or None."""
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
    return ckpt["epoch"] + 1, best, list(ckpt["history"]), float(ckpt["train_time"])
