"""What a paper-run call reports: Table 1 beside the paper's, the recipe of the calls still
needed (from the measured epoch times), and the printed summary."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.gpu.common import PAPER_PRETRAIN_EPOCHS, PAPER_PROBE_EPOCHS

STEPS = {"paper": ["prepare", "pretrain", "probe"], "paper-control": ["prepare", "control"]}
GRACE_S = 10.0  # past the child's deadline before it is killed
FINAL_S = 5.0  # kept at the end of the box for the JSON and the summary
PAPER = {"pretrain": PAPER_PRETRAIN_EPOCHS, "probe": PAPER_PROBE_EPOCHS}


def epoch_seconds(entry: dict[str, Any]) -> float | None:
    """A stage's seconds per epoch: the median of its epochs that were not a call's first
    (else of the firsts, start-up included: an overestimate)."""
    calls = entry.get("calls", {}).values()
    times = entry.get("epoch_s") or [c["first_epoch_s"] for c in calls if "first_epoch_s" in c]
    return statistics.median(times) if times else None


def startup_seconds(progress: dict[str, Any]) -> float | None:
    """A call's start-up before its first epoch ends, beyond that epoch: the largest seen."""
    seen = []
    for e in progress.values():
        if not e.get("epoch_s"):  # no epoch but a call's first: no start-up to tell apart
            continue
        per = epoch_seconds(e)
        seen += [c["first_epoch_s"] - per for c in e.get("calls", {}).values() if "first_epoch_s" in c]
    return max(seen) if seen else None


def plan_calls(mode: str, progress: dict[str, Any], params, budget_s: float) -> dict[str, Any]:
    """The recipe: how many more calls of the same command, and how long each, from the
    measured epoch times (a stage not measured yet is listed without a time)."""
    epochs = {"pretrain": params.pretrain.epochs, "probe": params.probe.epochs, "control": params.probe.epochs}
    measured = startup_seconds(progress)
    startup = measured or 0.0
    usable = budget_s - FINAL_S - GRACE_S
    calls: list[dict[str, Any]] = []
    unmeasured: list[str] = []
    current: dict[str, Any] | None = None
    for stage in STEPS[mode]:
        e = progress.get(stage, {})
        if e.get("done"):
            continue
        if stage == "prepare":
            unmeasured.append("prepare (once)")
            continue
        left, per = epochs[stage] - e.get("epoch", 0), epoch_seconds(e)
        if per is None:
            unmeasured.append(f"{stage} {left} epochs")
            continue
        while left > 0:
            if current is None or current["seconds"] + per > usable:
                current = {"seconds": startup, "epochs": {}}
                calls.append(current)
            n = max(1, min(left, int((usable - current["seconds"]) // per)))
            current["epochs"][stage] = current["epochs"].get(stage, 0) + n
            current["seconds"] += n * per
            left -= n
    for c in calls:
        c["seconds"] = round(c["seconds"], 1)
    startup_s = None if measured is None else round(measured, 1)
    return {"calls": calls, "not_measured": unmeasured, "startup_s": startup_s, "budget_s": budget_s}


def table1(mode: str, progress: dict[str, Any], epochs: dict[str, int]) -> list[dict[str, Any]]:
    """Each Table 1 figure beside the paper's, with the epochs it was trained for."""
    from rotnet.report import paper

    rows: list[dict[str, Any]] = []
    if mode == "paper":
        pre, pr = progress.get("pretrain", {}), progress.get("probe", {})
        layers = (pr.get("figures") or {}).get("layers", {}) if pr.get("done") else {}
        wanted = [(f"block{i}", "nonlinear", paper.NIN_PROBES[4][f"block{i}"]) for i in range(1, 5)]
        wanted.append(("block2", "conv", paper.COMPARISON["RotNet + conv head"]))
        run = {"pretrain": pre.get("epoch", 0), "probe": pr.get("epoch", 0)}
    else:
        ctl = progress.get("control", {})
        layers = (ctl.get("figures") or {}).get("layers", {}) if ctl.get("done") else {}
        wanted = [("block2", "conv", paper.COMPARISON["random init + conv head"])]
        run = {"probe": ctl.get("epoch", 0)}
    for layer, head, ref in wanted:
        got = layers.get(layer, {}).get(head) or {}
        rows.append(
            {
                "figure": f"{layer} {head}" + (" (random init)" if mode != "paper" else ""),
                "test_acc": got.get("test_acc"),
                "val_acc": got.get("val_acc"),
                "best_epoch": got.get("best_epoch"),
                "paper_test_acc": ref,
                "epochs_run": run,
                "epochs_planned": {k: epochs[k] for k in run},
                "epochs_paper": {k: PAPER[k] for k in run},
            }
        )
    return rows


def described(data: dict[str, Any]) -> str:
    if not data:
        return "not prepared yet"
    c = data["counts"]
    return f"{data['description']}: {c['train']} train / {c['val']} val / {c['test']} test"


def fmt(v: Any, spec: str = ".2f") -> str:
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def summary(res: dict[str, Any], command: str) -> str:
    lines = [f"paper run ({res['mode']}) on {res['device']}: {res['status']}; data: {res['data']}"]
    for stage, s in res["stages"].items():
        if stage == "prepare":
            lines.append(f"  prepare: {'done' if s.get('done') else 'not done'}")
            continue
        per = fmt(s.get("epoch_s"), ".2f")
        lines.append(f"  {stage}: {s['epoch']}/{s['epochs']} epochs{' (done)' if s.get('done') else ''}, {per} s/epoch")
    lines.append(f"  {'figure (test %)':28s} {'ours':>7s} {'val':>7s} {'paper':>7s}  epochs run (paper's)")
    for r in res["table1"]:
        run = ", ".join(f"{k} {v} ({r['epochs_paper'][k]})" for k, v in r["epochs_run"].items())
        lines.append(
            f"  {r['figure']:28s} {fmt(r['test_acc']):>7s} {fmt(r['val_acc']):>7s} {r['paper_test_acc']:7.2f}  {run}"
        )
    if res["mode"] == "paper" and res["stages"].get("pretrain", {}).get("done"):
        m = res["stages"]["pretrain"]["figures"]["metrics"]
        test, val = fmt(m.get("rotation_test_acc")), fmt(m.get("rotation_val_acc"))
        lines.append(f"  rotation prediction: test {test}%, val {val}%")
    if res["mode"] == "paper" and res["stages"].get("probe", {}).get("done"):
        b = res["stages"]["probe"]["figures"]["metrics"]["best"]
        where = f"{b['layer']}/{b['head']}"
        lines.append(f"  chosen on validation: {where}, val {b['val_acc']:.2f}%, test {b['test_acc']:.2f}%")
    plan = res["recipe"]
    startup = f"{plan['startup_s']:.0f} s" if plan["startup_s"] is not None else "not measured yet"
    lines.append(f"recipe (box {plan['budget_s']:.0f} s a call; start-up in a call {startup}; plus the machine's):")
    if res["status"] == "finished":
        lines.append("  nothing left: this run is finished (--fresh starts another)")
    i, calls = 1, plan["calls"]
    while i <= len(calls):  # alike calls on one line
        c, j = calls[i - 1], i
        while j < len(calls) and calls[j] == c:
            j += 1
        what = ", ".join(f"{k} {v} epochs" for k, v in c["epochs"].items())
        which = f"{i}." if j == i else f"{i}-{j}. ({j - i + 1} calls)"
        lines.append(f"  {which} {command}   # about {c['seconds'] / 60:.1f} min each: {what}")
        i = j + 1
    if plan["not_measured"]:
        lines.append(f"  then {command} again for: {', '.join(plan['not_measured'])} (no time measured yet)")
    if res["mode"] == "paper":
        lines.append("  later slot: make gpu-check ARGS=--paper-control   # the random-init control, 100 probe epochs")
    return "\n".join(lines)
