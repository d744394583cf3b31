"""make stage-pass: every DAG stage's real code once, for one short epoch, on the device.

A GPU box has no DVC, so nothing else runs the stages' CUDA paths before a user does. This
runs each stage instance of the DAG (prepare, supervised, supervised_rot, baseline,
pretrain, probe, control, finetune per head, small_input, semisup, robustness, report),
in the DAG's order, through the stage modules' ``run`` (the code ``stages/<name>.py``
calls; ``--isolate`` runs those scripts instead, one process per stage), in a scratch
project folder, on the mini CIFAR-10 copy, with params.yaml + profiles/quick.yaml + one
epoch everywhere (NIN narrow). It records each stage's pass or error (exception type,
message and the traceback's last lines), its seconds and the device its run record names;
after a failure the stages that do not read the failed one's outputs still run, and its
dependents are marked skipped with the reason (which instances, what each reads and the params:
stage_pass_plan.py). One JSON
(benchmarks/results/stage-pass/<date>-<device>.json) and a table.

    python benchmarks/stage_pass.py                                  # the GPU when there is one; ~1 minute
    python benchmarks/stage_pass.py --data DIR_OR_ARCHIVE --isolate  # each stage in its own process
    python benchmarks/stage_pass.py --tiny --device cpu              # the CPU cut the tests run

Needs only the python and torch it finds (plus pydantic, timm, pillow, pyyaml): no
install, no dvc. Exit status: 0 when every stage passed, 1 when one failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # runs without `pip install -e .`

SHARED_MINI = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg-mini.tar.gz"
RESULTS = ROOT / "benchmarks" / "results" / "stage-pass"  # a subfolder: the report's gpu-check reader globs results/
TAIL_LINES = 12  # of a failed stage's traceback (or a failed process's stderr)

from benchmarks.stage_pass_plan import Instance, build_params, instances, parse_set, pass_overrides, prerequisites  # noqa: E402
from rotnet import paths  # noqa: E402
from rotnet.data.raw import link_source  # noqa: E402


def log(msg: str) -> None:
    print(f"[stage-pass {time.strftime('%H:%M:%S')}] {msg}", flush=True)


@contextmanager
def working_dir(path: Path) -> Iterator[None]:
    """Stages read and write relative to the current directory (rotnet.paths)."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def _keep_threads(n: int) -> Iterator[None]:
    import torch

    try:
        yield
    finally:
        torch.set_num_threads(n)


def _cuda_settle(device: Any) -> None:
    """Wait for the stage's kernels (an asynchronous CUDA error is this stage's) and free its cache."""
    import torch

    if device.type == "cuda":
        gc.collect()  # (a full collection costs a quarter second: not worth it on the CPU)
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


def _error(err: BaseException) -> dict[str, Any]:
    lines = "".join(traceback.format_exception(type(err), err, err.__traceback__)).rstrip().splitlines()
    return {"type": type(err).__name__, "message": str(err)[:2000], "tail": lines[-TAIL_LINES:]}


def run_in_process(inst: Instance, params: Any) -> None:
    """The stage module's ``run``, looked up at call time (a test may replace it)."""
    from rotnet.stages.table import BY_NAME

    module = importlib.import_module(BY_NAME[inst.stage].module)
    module.run(params, **inst.kwargs())


def run_script(inst: Instance, params_file: Path, log_dir: Path, timeout_s: float | None) -> None:
    """``python stages/<name>.py --params ...`` in the current directory, as dvc.yaml runs it."""
    from rotnet.stages.table import BY_NAME

    log_dir.mkdir(parents=True, exist_ok=True)
    out = log_dir / f"{inst.name}.log"
    cmd = [sys.executable, str(ROOT / BY_NAME[inst.stage].script), "--params", str(params_file), *inst.argv()]
    with out.open("w", encoding="utf-8") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout_s, check=False).returncode
    if rc:
        tail = out.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()[-TAIL_LINES:]
        raise StageProcessError(f"{BY_NAME[inst.stage].script} exited with status {rc}", tail)


class StageProcessError(RuntimeError):
    """A stage script that exited non-zero; its output's last lines are the traceback tail."""

    def __init__(self, message: str, tail: list[str]) -> None:
        super().__init__(message)
        self.tail = tail


def recorded_device(inst: Instance) -> str | None:
    """The device the stage's run record names (None for prepare and report, which train nothing)."""
    from rotnet import paths

    if inst.stage in ("prepare", "report") or inst.dataset is None:
        return None
    variant = "-".join(v for v in (inst.method, inst.head) if v) or None  # ssl_finetune/simclr-conv
    kind = "supervised" if inst.stage == "baseline" else paths.variant_kind(inst.stage, variant)
    record = paths.stage_dir(kind, inst.dataset, inst.backbone) / "run.json"
    if not record.is_file():
        return None
    return json.loads(record.read_text(encoding="utf-8")).get("device")


def run_stage_pass(
    raw: Mapping[str, Any],
    work: Path,
    data: Path,
    isolate: bool = False,
    stage_timeout_s: float | None = None,
    say: Callable[[str], None] = log,
) -> dict[str, Any]:
    """Run every stage instance of the params ``raw`` once, in the project folder ``work``
    (created; stages write there as in a checkout), on CIFAR-10 from ``data`` (an image
    folder or archive). Returns the result the JSON holds."""
    import torch
    import yaml

    from rotnet.params import parse_params
    from rotnet.training.runtime import describe_device, resolve_device, setup_threads

    params = parse_params(dict(raw), "stage-pass params")
    device = resolve_device(params.runtime)
    work.mkdir(parents=True, exist_ok=True)
    params_file = work / "params.yaml"
    params_file.write_text(yaml.safe_dump(dict(raw), sort_keys=False), encoding="utf-8")
    link_source("cifar10", data, work / paths.raw_dir("cifar10"))
    todo = instances(params)
    rows: dict[Instance, dict[str, Any]] = {}
    started = time.perf_counter()
    # The stages set runtime.threads; the caller gets its own number back.
    with working_dir(work), _keep_threads(torch.get_num_threads()):
        setup_threads(params.runtime)
        described = describe_device(device)
        for inst in todo:
            row: dict[str, Any] = {"stage": inst.name, "kind": inst.stage}
            bad = [p for p in prerequisites(inst, todo) if rows[p]["status"] != "pass"]
            if bad:
                why = ", ".join(f"{p.name} ({rows[p]['status']})" for p in bad)
                rows[inst] = {**row, "status": "skipped", "reason": f"reads the outputs of {why}"}
                say(f"{inst.name}: skipped: {rows[inst]['reason']}")
                continue
            say(f"{inst.name}: running")
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            t0 = time.perf_counter()
            try:
                if isolate:
                    run_script(inst, params_file.resolve(), work / "stage-pass-logs", stage_timeout_s)
                else:
                    run_in_process(inst, params)
                _cuda_settle(device)
                row["status"] = "pass"
            except Exception as err:  # one stage's failure must not hide the others'
                row.update(status="error", error=_error(err))
                if isinstance(err, StageProcessError):
                    row["error"]["tail"] = err.tail
                try:
                    _cuda_settle(device)
                except Exception as again:  # a broken CUDA context: the next stages will say so
                    row["error"]["after"] = f"{type(again).__name__}: {again}"[:500]
            row["seconds"] = round(time.perf_counter() - t0, 2)
            row["device"] = recorded_device(inst)
            if device.type == "cuda" and not isolate:
                row["peak_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
            rows[inst] = row
            msg = (
                row["status"] if row["status"] == "pass" else f"ERROR {row['error']['type']}: {row['error']['message']}"
            )
            say(f"{inst.name}: {msg} ({row['seconds']} s)")
    stages = [rows[i] for i in todo]
    counts = {s: sum(r["status"] == s for r in stages) for s in ("pass", "error", "skipped")}
    return {
        "kind": "stage-pass",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "device": described,
        "device_type": device.type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "host": platform.node(),
        "mode": "process per stage" if isolate else "in-process",
        "status": "pass" if counts["pass"] == len(stages) else "error",
        "counts": counts,
        "total_s": round(time.perf_counter() - started, 1),
        "stages": stages,
    }


def table(result: Mapping[str, Any]) -> str:
    """The result as a fixed-width table, a failed stage's error under its row."""
    width = max(len(r["stage"]) for r in result["stages"])
    lines = [f"{'stage':<{width}}  {'status':<7}  {'seconds':>7}  device / why"]
    for r in result["stages"]:
        secs = f"{r['seconds']:.1f}" if "seconds" in r else "-"
        note = r.get("reason") or r.get("device") or ""
        lines.append(f"{r['stage']:<{width}}  {r['status']:<7}  {secs:>7}  {note}")
        if r["status"] == "error":
            lines.append(f"{'':<{width}}    {r['error']['type']}: {r['error']['message'][:300]}")
    c = result["counts"]
    lines.append(
        f"{len(result['stages'])} stages: {c['pass']} pass, {c['error']} error, {c['skipped']} skipped; "
        f"{result['total_s']} s on {result['device']} ({result['mode']})"
    )
    return "\n".join(lines)


def result_path(folder: Path, device: str, when: dt.date) -> Path:
    """``<date>-<device>.json``; a later run of the same day gets ``-2``, ``-3``, ... (none overwritten)."""
    stem = f"{when.isoformat()}-{re.sub(r'[^a-z0-9]+', '-', device.lower()).strip('-') or 'device'}"
    path, n = folder / f"{stem}.json", 2
    while path.exists():
        path, n = folder / f"{stem}-{n}.json", n + 1
    return path


def default_data() -> Path | None:
    return SHARED_MINI if SHARED_MINI.is_file() else None


def main(argv: Sequence[str] | None = None) -> int:
    from rotnet.errors import RotnetError

    ap = argparse.ArgumentParser(prog="benchmarks/stage_pass.py", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, default=default_data(), help=f"CIFAR-10 image folder or archive (default: {SHARED_MINI})"
    )
    ap.add_argument(
        "--device", default="auto", help="runtime.device: auto (the GPU when there is one), cpu, cuda, cuda:N"
    )
    ap.add_argument("--tiny", action="store_true", help="the CPU cut: tiny widths, a handful of images (the tests')")
    ap.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="one more params override"
    )
    ap.add_argument(
        "--isolate", action="store_true", help="run each stage as `python stages/<name>.py` in its own process"
    )
    ap.add_argument("--stage-timeout-s", type=float, default=None, help="with --isolate: stop a stage after this long")
    ap.add_argument(
        "--work", type=Path, default=None, help="the scratch project folder (default: a temporary one, removed)"
    )
    ap.add_argument(
        "--out", type=Path, default=RESULTS, help=f"folder of the JSON (default: {RESULTS.relative_to(ROOT)})"
    )
    args = ap.parse_args(argv)
    try:
        if args.data is None:
            raise RotnetError(
                f"no CIFAR-10 images: {SHARED_MINI} is not there; give --data (an image folder or archive)"
            )
        if not args.data.exists():
            raise RotnetError(f"--data {args.data} does not exist; give a CIFAR-10 image folder or archive")
        overrides = {**pass_overrides(args.device, args.tiny), **parse_set(args.sets)}
        raw = build_params(overrides)
        work = args.work or Path(tempfile.mkdtemp(prefix="stage-pass-"))
        try:
            result = run_stage_pass(
                raw, work.resolve(), args.data.resolve(), isolate=args.isolate, stage_timeout_s=args.stage_timeout_s
            )
        finally:
            if args.work is None:
                shutil.rmtree(work, ignore_errors=True)
    except RotnetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result.update(data=str(args.data), overrides=overrides)
    args.out.mkdir(parents=True, exist_ok=True)
    path = result_path(args.out, result["device"], dt.date.today())
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(result))
    print(f"-> {path}")
    return 0 if result["status"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
