"""Run a stage script or `rotnet` in a child process with one fault armed.

The fault fires at the n-th time the child reaches a point of writing a file whose path
matches ``match`` (a regular expression):
- ``write``: the first ``write`` call writes half its bytes, flushes, and the process
  sends itself SIGKILL (a kill at the write itself, with a partial file on disk);
- ``publish``: the temporary copy is complete, and the kill comes just before the rename
  (or hard link) that would publish it;
- ``swap``: a folder swap without RENAME_EXCHANGE (the fallback), killed between its
  two renames, when the target has been moved aside and the new folder not yet moved in;
- ``cleanup``: a folder swap done, killed as it starts deleting the old folder;
- ``pause``: at the first ``write`` call, write half, flush, create the file ``flag`` and
  wait until ``flag`` is deleted, then finish (another process can act meanwhile).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_BOOT = r"""
import builtins, io, json, os, re, runpy, shutil, signal, sys, time

spec = json.loads(os.environ["ROTNET_FAULT"])
match, mode, nth = re.compile(spec["match"]), spec["mode"], spec.get("nth", 1)
seen = [0]


def due(path):
    if not match.search(os.fsdecode(path)):
        return False
    seen[0] += 1
    return seen[0] == nth


def die():
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class Half:
    def __init__(self, f):
        self._f, self._first = f, True

    def write(self, data):
        if not self._first:
            return self._f.write(data)
        self._first = False
        cut = max(1, len(data) // 2)
        self._f.write(data[:cut])
        self._f.flush()
        if mode == "write":
            die()
        flag = spec["flag"]
        open(flag, "w").close()
        while os.path.exists(flag):
            time.sleep(0.02)
        return cut + self._f.write(data[cut:])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __getattr__(self, name):
        return getattr(self._f, name)


real_open = io.open


def fault_open(file, mode="r", *args, **kwargs):
    f = real_open(file, mode, *args, **kwargs)
    if any(c in mode for c in "wax") and isinstance(file, (str, bytes, os.PathLike)) and due(file):
        return Half(f)
    return f


if mode in ("write", "pause"):
    builtins.open = io.open = fault_open
elif mode == "publish":
    real_replace, real_link = os.replace, os.link

    def at_publish(real):
        def wrapped(src, dst, *a, **k):
            if due(dst):
                die()
            return real(src, dst, *a, **k)
        return wrapped

    os.replace, os.link = at_publish(real_replace), at_publish(real_link)
elif mode == "swap":
    import rotnet.atomic

    rotnet.atomic._exchange = lambda a, b: False  # the two-rename fallback
    real_replace = os.replace

    def replace(src, dst, *a, **k):
        if str(src).endswith(".tmp") and not os.path.lexists(dst) and due(dst):
            die()  # the old folder is aside, the new one not yet in place
        return real_replace(src, dst, *a, **k)

    os.replace = replace
elif mode == "cleanup":
    real_rmtree = shutil.rmtree

    def rmtree(path, *a, **k):
        if due(path):
            die()
        return real_rmtree(path, *a, **k)

    shutil.rmtree = rmtree

target, argv = spec["argv"][0], spec["argv"][1:]
sys.argv = [target, *argv]
if target.endswith(".py"):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(target))))
    runpy.run_path(target, run_name="__main__")
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""


def _child(argv: list[str], **fault: object) -> dict[str, object]:
    """subprocess arguments that run ``argv`` (``stages/...`` relative to the project root)
    with ``fault`` armed."""
    if argv[0].startswith("stages/"):
        argv = [str(ROOT / argv[0]), *argv[1:]]
    spec = json.dumps({"argv": argv, **fault})
    return {
        "args": [sys.executable, "-c", _BOOT],
        "env": {**os.environ, "ROTNET_FAULT": spec, "PYTHONPATH": str(ROOT)},
        "text": True,
    }


def run_faulty(
    argv: list[str], cwd: Path, mode: str, match: str, nth: int = 1, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with a fault that kills it; return the finished process (check its code)."""
    return subprocess.run(
        **_child(argv, mode=mode, match=match, nth=nth), cwd=cwd, capture_output=True, timeout=timeout
    )


def start_paused(argv: list[str], cwd: Path, match: str, flag: Path) -> subprocess.Popen[str]:
    """Start ``argv`` in the background; it pauses mid-write until ``flag`` is deleted."""
    child = _child(argv, mode="pause", match=match, flag=str(flag))
    return subprocess.Popen(**child, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
