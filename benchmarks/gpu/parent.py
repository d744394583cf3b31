"""make gpu-check's parent: the box across the parts, each in its own child, and the one
JSON (rotnet/report/gpu_check_schema.py), saved after every part."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.gpu.children import child_args, run_child
from benchmarks.gpu.common import device_of, log, result_path
from benchmarks.gpu.costs_phase import run_costs
from benchmarks.gpu.study_phase import study_compile
from benchmarks.gpu.summary import summary
from benchmarks.gpu.throughput_phase import bar, lacks_side, throughput_table
from rotnet.report import gpu_check_schema as schema
from rotnet.report.gpu_check_schema import GpuCheckResult

FINAL_S = 4.0  # kept at the end of the box for the summary and the JSON


def overall_status(res: GpuCheckResult) -> str:
    """complete, or partial with what is missing: a part stopped or failed, measurements skipped."""
    incomplete = [k for k, p in res["phases"].items() if p["status"] != "complete"]
    if incomplete:
        return "partial: " + ", ".join(f"{k} {res['phases'][k]['status']}" for k in incomplete)
    # A side the workload does not have (a method's plain) is no missing measurement.
    throughput = [r for r in res["throughput"].get("rows", []) if not lacks_side(r["workload"], r["side"])]
    missing = [
        f"{n} {what} measurement(s) skipped or failed"
        for what, rows in (
            ("throughput", throughput),
            ("cost", [e for t in (res["costs"].get("table") or {}).values() for e in t.values()]),
        )
        if (n := sum("images_per_s" not in r for r in rows))
    ]
    return "partial: " + "; ".join(missing) if missing else "complete"


def new_result(args: argparse.Namespace, name: str, device_type: str, date: str) -> GpuCheckResult:
    """The JSON before any part has run."""
    import torch

    return {
        "kind": schema.KIND,
        "schema": schema.VERSION,
        "date": date,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "device": name,
        "device_type": device_type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "budget_s": args.budget_s,
        "status": "running",
        "elapsed_s": 0.0,
        "options": {
            "batch": args.batch,
            "steps": args.steps,
            "compile": args.compile,
            "width": args.width,
            "train_per_class": args.train_per_class,
            "workers": args.workers,
            "epochs": args.epochs,
            "cost_backbones": args.cost_backbones,
            "cost_steps": args.cost_steps,
            "cost_width": args.cost_width,
            "cost_tasks": args.cost_tasks,
            "equal_cost_steps": args.equal_cost_steps,
        },
        "phases": {},
        "throughput": {
            "unit": "source images/s; rotation trains on 4 rotated samples per image, SimCLR and BYOL on 2 views",
            "table": {},
        },
        "bar": None,
        "costs": {
            "unit": "source images/s at each backbone's committed recipe and batch; rotation trains on "
            "len(pretrain.rotations) rotated samples per image, SimCLR and BYOL on 2 views (samples_per_s)",
            "steps": args.cost_steps,
            "status": "not started",
        },
        "study": {"data": "not prepared", "status": "not started"},
    }


def parent(args: argparse.Namespace) -> int:
    import torch

    from rotnet.atomic import write_json

    t0 = time.time()
    deadline = t0 + args.budget_s
    device = device_of(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu-{platform.machine()}"
    date = dt.date.today().isoformat()
    args.out.mkdir(parents=True, exist_ok=True)
    path = result_path(args.out, name, date)
    own_work = args.work is None
    args.work = Path(tempfile.mkdtemp(prefix="gpu-check-")) if own_work else Path(args.work)
    res = new_result(args, name, device.type, date)

    def save(status: str) -> None:
        res["status"], res["elapsed_s"] = status, round(time.time() - t0, 1)
        for problem in schema.problems(res):  # the report reads this file: a drift is a bug here
            log(f"WARNING: the JSON does not follow rotnet/report/gpu_check_schema.py: {problem}")
        write_json(path, res)

    save("running")
    log(f"{name}: box {args.budget_s:.0f} s; results -> {path}")
    extra = child_args(args)
    try:
        prep = run_child("prepare", args, deadline - FINAL_S, extra)
        res["phases"]["prepare"] = {"status": prep["status"], "seconds": prep["seconds"]}
        if not prep["rows"] or prep["status"] != "complete":
            res["study"]["status"] = f"no data: prepare {prep['status']}"
            save(f"prepare {prep['status']}")
            return 1
        meta = prep["rows"][0]
        c = meta["counts"]
        res["study"]["data"] = f"{meta['description']}: {c['train']} train / {c['val']} val / {c['test']} test"
        res["data"] = meta
        save("running")
        left = deadline - FINAL_S - time.time()
        if args.workloads:
            tp = run_child("throughput", args, time.time() + args.throughput_share * left, extra)
        else:
            tp = {"status": "complete", "seconds": 0.0, "rows": []}
        res["phases"]["throughput"] = {"status": tp["status"], "seconds": tp["seconds"]}
        table = throughput_table(tp["rows"], args.compile == "on")
        res["throughput"].update(batch=args.batch, steps=args.steps, repeats=args.repeats, rows=tp["rows"], table=table)
        res["bar"] = bar(table)
        save("running")
        run_costs(args, res, min(deadline - FINAL_S, time.time() + args.costs_share * left), extra)
        save("running")
        compile_ = study_compile(table, args.study_compile)
        st = run_child("study", args, deadline - FINAL_S, [*extra, "--study-compile", compile_])
        res["phases"]["study"] = {"status": st["status"], "seconds": st["seconds"]}
        res["study"]["status"] = st["status"]
        for row in st["rows"]:
            res["study"][row.pop("part")] = row
        save(overall_status(res))
    finally:
        if own_work:
            shutil.rmtree(args.work, ignore_errors=True)
    print(summary(res), flush=True)
    log(f"wrote {path}")
    return 0
