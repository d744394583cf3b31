"""A part of make gpu-check in its own child process, with its own deadline: the child
appends its result rows as it measures them, so a child stopped at the box keeps them."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.gpu.common import ROOT, SCRIPT, log

GRACE_S = 5.0  # a child gets this long past its deadline before it is stopped


def emit(rows: Path, row: dict[str, Any]) -> None:
    """A child's result row, appended at once so that a stopped child keeps it."""
    with rows.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def read_rows(rows: Path) -> list[dict[str, Any]]:
    if not rows.is_file():
        return []
    return [json.loads(line) for line in rows.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_until(cmd: list[str], until: float, grace_s: float = GRACE_S) -> int | None:
    """Run ``cmd`` in the project root until ``until`` (wall clock) and ``grace_s``; its exit
    status, or None when it was stopped (terminated, then killed if it would not end)."""
    child = subprocess.Popen(cmd, cwd=ROOT)
    try:
        return child.wait(timeout=max(1.0, until - time.time() + grace_s))
    except subprocess.TimeoutExpired:
        child.terminate()
        try:
            child.wait(timeout=3)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return None


def run_child(name: str, args: argparse.Namespace, until: float, extra: list[str]) -> dict[str, Any]:
    """Run one part in a child process until ``until`` (wall clock); its rows, its status."""
    rows = Path(args.work) / f"{name}.jsonl"
    cmd = [sys.executable, str(SCRIPT), "--phase", name, "--rows", str(rows),
           "--until", f"{until:.3f}", "--work", str(args.work), *extra]  # fmt: skip
    started = time.time()
    log(f"{name}: starting ({until - started:.0f} s in its box)")
    rc = run_until(cmd, until)
    if rc is None:
        status = "stopped at the time box"
    else:
        status = "complete" if rc == 0 else f"failed (exit {rc}; its output is above)"
    seconds = round(time.time() - started, 1)
    log(f"{name}: {status} after {seconds} s")
    return {"status": status, "seconds": seconds, "rows": read_rows(rows)}


def child_args(args: argparse.Namespace) -> list[str]:
    out = ["--device", args.device, "--batch", str(args.batch), "--steps", str(args.steps),
           "--repeats", str(args.repeats), "--workers", str(args.workers), "--compile", args.compile,
           "--val-size", str(args.val_size),
           "--calibration-steps", str(args.calibration_steps), "--min-measure-s", str(args.min_measure_s),
           "--cost-steps", str(args.cost_steps), "--equal-cost-steps", str(args.equal_cost_steps),
           "--workloads", *args.workloads, "--cost-tasks", *args.cost_tasks,
           "--cost-backbones", *args.cost_backbones]  # fmt: skip
    if args.data:
        out += ["--data", str(args.data)]
    if args.width:
        out += ["--width", str(args.width)]
    if args.cost_width:
        out += ["--cost-width", str(args.cost_width)]
    if args.train_per_class:
        out += ["--train-per-class", str(args.train_per_class)]
    if args.epochs:
        out += ["--epochs", *map(str, args.epochs)]
    return out
