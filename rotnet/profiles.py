"""Profiles: named sets of params overrides, one YAML file each under ``profiles/``.

A profile maps dotted params keys to values (``pretrain.epochs: 3``). It reaches the study
two ways, which give identical params (tests/test_profiles.py checks it through DVC's own
override code):

- ``rotnet profile run NAME`` (``make quick``, ``make paper``): ``dvc exp run -S key=value ...``,
  a DVC experiment that ``dvc exp show`` lists with its params;
- ``merge`` in Python, without DVC (``benchmarks/gpu_check.py`` on a GPU box without dvc).

A profile never leaks into the study. ``dvc exp run`` in the workspace leaves params.yaml as
the experiment ran it, so that the workspace's params and results agree; ``run`` keeps the
params.yaml from before in ``.profile/`` and:

- the next ``run`` starts from that params.yaml again when nobody edited it since, so one
  run's overrides never carry into the next;
- ``rotnet profile check-study`` (``make study``) refuses to run the study on a params.yaml
  that a profile changed, and names ``rotnet profile restore`` (``make unprofile``), which
  puts the earlier params.yaml back.

No torch here: the Makefile calls this before anything trains.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml

from rotnet.atomic import write_bytes, write_json
from rotnet.errors import RotnetError

PROFILES = Path("profiles")
PARAMS = Path("params.yaml")
STATE = Path(".profile")  # git-ignored: what `run` needs to undo a profile
REPORT = Path("metrics/report.md")


def profile_path(name: str) -> Path:
    """``profiles/<name>.yaml``, or ``name`` itself when it is a path to a YAML file."""
    path = Path(name)
    return path if path.suffix in (".yaml", ".yml") else PROFILES / f"{name}.yaml"


def available() -> list[str]:
    return sorted(p.stem for p in PROFILES.glob("*.yaml"))


def load_profile(name: str) -> dict[str, Any]:
    """The profile's overrides, dotted key -> value, in file order."""
    path = profile_path(name)
    if not path.is_file():
        known = ", ".join(available()) or "none"
        raise RotnetError(f"no profile {path}; the profiles are: {known} (one YAML file each under {PROFILES}/)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise RotnetError(f"{path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) and k for k in data):
        raise RotnetError(f"{path} must map dotted params keys to values (e.g. `pretrain.epochs: 3`)")
    return dict(data)


def merge(raw: Mapping[str, Any], overrides: Mapping[str, Any], source: str = "profile") -> dict[str, Any]:
    """A copy of the params ``raw`` with each dotted key of ``overrides`` set. Like ``dvc exp
    run -S``, a key must already exist: a typo is an error, not a new key."""
    out = deepcopy(dict(raw))
    for key, value in overrides.items():
        node: Any = out
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(parts[:i]) or "the top level"
                raise RotnetError(
                    f"{source}: {key} is not a key of params.yaml ({where} has no {part!r}); "
                    "check the spelling against params.yaml"
                )
            if i == len(parts) - 1:
                node[part] = deepcopy(value)
            else:
                node = node[part]
    return out


_BARE = re.compile(r"^[A-Za-z_/][\w\-./]*$")
_WORDS = {"true", "false", "null", "nan", "inf"}  # Hydra would read these as bool, None or float


def _value(v: Any) -> str:
    """``v`` in Hydra's override grammar (what ``dvc exp run -S`` parses): names and paths
    bare, other strings quoted, so that '1', 'null' or a path with commas stay strings."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        if _BARE.match(v) and v.lower() not in _WORDS:
            return v
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_value(x)}" for k, x in v.items()) + "}"
    raise RotnetError(f"a profile value must be YAML data (number, string, list, mapping), got {v!r}")


def dvc_set_args(overrides: Mapping[str, Any]) -> list[str]:
    """``-S key=value`` for each override, as separate argv items (no shell involved)."""
    return [a for k, v in overrides.items() for a in ("-S", f"{k}={_value(v)}")]


# --- running a profile as a DVC experiment --------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _state() -> dict[str, Any] | None:
    path = STATE / "state.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _before() -> bytes:
    return (STATE / "params.before.yaml").read_bytes()


def restore() -> bool:
    """Put back the params.yaml from before the last profile run; False when none is kept."""
    state = _state()
    if state is None:
        return False
    write_bytes(PARAMS, _before())
    shutil.rmtree(STATE)
    return True


def profile_in_effect() -> dict[str, Any] | None:
    """The last run's state while params.yaml still differs from what it was before it."""
    state = _state()
    if state is None:
        return None
    if PARAMS.read_bytes() == _before():
        shutil.rmtree(STATE)  # someone put it back by hand
        return None
    return state


def check_study() -> None:
    """Refuse to run the study on a params.yaml that a profile changed."""
    state = profile_in_effect()
    if state is not None:
        raise RotnetError(
            f"params.yaml holds the {state['profile']} profile (applied by `rotnet profile run "
            f"{state['profile']}` at {state['time']}), not the study's params: the study would run on them. "
            "Put back the params.yaml from before with `make unprofile` (rotnet profile restore), "
            "then run the study; or commit params.yaml as it is if you mean it (then remove .profile/)"
        )


def _dvc() -> str:
    exe = shutil.which("dvc", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if exe is None:
        raise RotnetError("dvc is not installed (or not on PATH); install the project first: make install")
    return exe


def run(name: str, extra: Sequence[str], dvc: Sequence[str] | None = None) -> int:
    """``dvc exp run`` with the profile's overrides, then ``extra`` (more -S, --queue, ...).
    Returns dvc's exit status."""
    overrides = load_profile(name)
    if not PARAMS.is_file():
        raise RotnetError(f"no {PARAMS} here; run this from the project's root")
    merge(yaml.safe_load(PARAMS.read_text(encoding="utf-8")), overrides, str(profile_path(name)))  # typos first
    state = _state()
    if state is not None:
        if _sha(PARAMS.read_bytes()) == state["after_sha256"]:
            write_bytes(PARAMS, _before())  # start from the params.yaml the last run started from
            print(f"params.yaml: back to before the last {state['profile']} run", flush=True)
        elif PARAMS.read_bytes() != _before():
            print(
                f"params.yaml was edited after the last {state['profile']} run: kept as it is "
                "(`make unprofile` puts back the one from before that run)",
                file=sys.stderr,
                flush=True,
            )
    else:
        STATE.mkdir(exist_ok=True)
        write_bytes(STATE / "params.before.yaml", PARAMS.read_bytes())
    before = _before()
    report_mtime = REPORT.stat().st_mtime_ns if REPORT.is_file() else None
    cmd = [*(dvc or [_dvc()]), "exp", "run", *dvc_set_args(overrides), *extra]
    print(shlex.join(["dvc", *cmd[len(dvc or [""]) :]]), flush=True)
    code = subprocess.run(cmd, check=False).returncode
    after = PARAMS.read_bytes()
    if after == before:  # --queue, --temp, or dvc refused before changing anything
        shutil.rmtree(STATE, ignore_errors=True)
    else:
        write_json(
            STATE / "state.json",
            {"profile": name, "extra": list(extra), "after_sha256": _sha(after), "time": time.strftime("%F %T")},
        )
    made = REPORT.is_file() and REPORT.stat().st_mtime_ns != report_mtime
    if made:
        print(f"report: {REPORT} (and .html, .csv, .png beside it)")
    elif code == 0:
        print("no report was written by this run (queued, or nothing changed): `dvc exp show` lists experiments")
    if after != before:
        print("params.yaml now holds this experiment's params; `make unprofile` puts back the earlier one")
    return code


def add_parser(sub: Any) -> None:
    """The `rotnet profile {run,show,args,check-study,restore}` subcommand."""
    p = sub.add_parser("profile", help="run a params profile (profiles/*.yaml) as a DVC experiment, or undo one")
    acts = p.add_subparsers(dest="action", required=True)
    r = acts.add_parser("run", help="dvc exp run -S <each override> [more dvc exp run arguments]")
    r.add_argument("name", help="quick, paper, ... (profiles/<name>.yaml) or a YAML file's path")
    r.add_argument("extra", nargs=argparse.REMAINDER, help="more `dvc exp run` arguments (-S k=v, --queue, ...)")
    s = acts.add_parser("show", help="print the profile's -S arguments (shell-quoted)")
    s.add_argument("name")
    acts.add_parser("check-study", help="refuse when params.yaml still holds a profile (make study)")
    acts.add_parser("restore", help="put back the params.yaml from before the last profile run")


def main(args: argparse.Namespace) -> None:
    if args.action == "run":
        code = run(args.name, [a for a in args.extra if a != "--"])
        if code:
            raise SystemExit(code)
    elif args.action == "show":
        print(shlex.join(dvc_set_args(load_profile(args.name))))
    elif args.action == "check-study":
        check_study()
    elif restore():
        print("params.yaml: put back as it was before the last profile run")
    else:
        print("no profile run to undo: params.yaml left as it is")
