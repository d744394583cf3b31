"""Progress reporting: a tqdm bar on a terminal, plain log lines otherwise (DVC logs, CI)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def duration(seconds: float) -> str:
    """A span of time as a person reads it: 45s, 12m 05s, 3h 20m, 2d 04h."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def _status(done: int, total: int | None, later: int, elapsed: float) -> str:
    """``done`` items in ``elapsed`` s: the rate and, when the count is known, the time left
    for these items and the ``later`` ones still to come after them (a stage's later epochs)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    parts = [duration(elapsed), f"{rate:.3g}/s"]
    if total and rate > 0:
        parts.append(f"~{duration((total - done + later) / rate)} left")
    return ", ".join(parts)


def progress(
    items: Iterable[T], total: int | None = None, desc: str = "", every: float = 10.0, later: int = 0
) -> Iterator[T]:
    """Iterate with a progress bar on a TTY, or a log line at most every ``every`` seconds,
    each with the rate and the time left: for ``total`` items and ``later`` more that follow
    at the same rate (a stage passes its later epochs' steps, so the time left is the stage's)."""
    if sys.stderr.isatty():
        bar = tqdm(items, total=total, desc=desc, leave=False, dynamic_ncols=True)
        start = last = time.monotonic()
        for done, item in enumerate(bar, 1):
            yield item
            now = time.monotonic()
            if later and now - last >= 1.0:  # tqdm's own estimate covers these items only
                last = now
                bar.set_postfix_str(_status(done, total, later, now - start).split(", ")[-1])
        return
    start = last = time.monotonic()
    for done, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last >= every:
            last = now
            of = f"/{total}" if total else ""
            log(f"{desc}: {done}{of} ({_status(done, total, later, now - start)})")
