"""A contrastive method's batch is one piece: NT-Xent's negatives are the whole batch.

``runtime.micro_batch`` runs a step as micro-batches whose gradients are summed. That keeps a
per-sample loss the same, but not NT-Xent: each micro-batch would see only its own images as
negatives, a smaller batch and so another method. Under DDP the batch stays whole, since the
negatives are gathered across processes (rotnet.methods.ntxent).
"""

from __future__ import annotations

from typing import Literal

from rotnet.errors import RotnetError


def refuse_micro_batches(
    method: str, micro_batch: int | Literal["auto"] | None, batch_size: int, processes: int = 1
) -> None:
    """Raise unless every process runs its whole share of the batch (``batch_size`` is global)
    in one pass. ``auto`` is refused too: it splits whenever the batch does not fit, silently."""
    share = batch_size // max(processes, 1)
    if micro_batch is None or (isinstance(micro_batch, int) and micro_batch >= share):
        return
    split = "auto (it splits the batch whenever it does not fit)" if micro_batch == "auto" else str(micro_batch)
    raise RotnetError(
        f"{method} takes its negatives from the whole batch, so it cannot run in micro-batches: "
        f"runtime.micro_batch is {split} but each of the {processes} process(es) runs {share} images per step. "
        f"Set runtime.micro_batch: null; if the batch then does not fit, run more processes "
        f"(distributed.nproc_per_node: the negatives are gathered across them) or lower {method}'s batch_size"
    )
