"""`rotnet ablations`: the paper's ablations as DVC experiments, and their results as its tables.

``queue`` queues one `dvc exp run --queue -S ...` per variant:

- rotations (the paper's Table 2): ``pretrain.rotations`` = [0, 90, 180, 270], the eight
  multiples of 45, [0, 180] and [90, 270], on the 4-block NIN;
- depth (Table 1): ``backbones.nin.blocks`` = 3, 4 and 5, on the four right angles.

Both ablations are NIN-only, so each experiment also sets ``study.backbones=[nin]`` and
``study.datasets=[<dataset>]`` (``--whole-study`` keeps the workspace's study). ``show``
reads `dvc exp show --json` (or a saved copy) and prints, for each finished experiment,
its rotation set and NIN depth, and the non-linear probe's test accuracy on every NIN
block (``metrics/runs/<dataset>/nin/probe.json``) beside the paper's figure for that
variant. No torch here: `rotnet --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rotnet.errors import RotnetError
from rotnet.report.paper import DEFAULT_ROTATIONS, PAPER_DATASET, ROTATION_SETS, nin_probe_figure

DEFAULT_BLOCKS = 4  # the paper's RotNet and the NIN backbone's default
DEPTHS = (3, 4, 5)  # Table 1
WHAT = ("rotations", "depth", "all")


@dataclass(frozen=True)
class Variant:
    """One ablation point: the angle set of the pretext task and the NIN depth."""

    rotations: tuple[int, ...] = DEFAULT_ROTATIONS
    blocks: int = DEFAULT_BLOCKS

    def overrides(self) -> list[str]:
        return [f"pretrain.rotations=[{','.join(map(str, self.rotations))}]", f"backbones.nin.blocks={self.blocks}"]


def variants(what: str) -> list[Variant]:
    """The paper's variants for one ablation, or both (the shared default point once)."""
    rotations = [Variant(rotations=s) for s in ROTATION_SETS]
    depth = [Variant(blocks=b) for b in DEPTHS]
    chosen = {"rotations": rotations, "depth": depth, "all": rotations + depth}[what]
    return list(dict.fromkeys(chosen))


def queue_commands(
    what: str, dataset: str = PAPER_DATASET, extra: Sequence[str] = (), whole_study: bool = False
) -> list[list[str]]:
    """The `dvc exp run --queue` command of each variant, with ``extra`` overrides after its own."""
    study = [] if whole_study else ["study.backbones=[nin]", f"study.datasets=[{dataset}]"]
    commands = []
    for v in variants(what):
        sets = [*v.overrides(), *study, *extra]
        commands.append(["dvc", "exp", "run", "--queue", *(a for s in sets for a in ("-S", s))])
    return commands


# --- reading experiments ------------------------------------------------------------------


@dataclass
class Experiment:
    name: str
    state: str  # "done", "queued", "running", "failed"
    rotations: tuple[int, ...]
    blocks: int
    accuracies: dict[str, float] = field(default_factory=dict)  # block -> non-linear probe test %
    baseline: bool = False


def probe_metrics_path(dataset: str) -> str:
    return f"metrics/runs/{dataset}/nin/probe.json"


def _experiment(rev: dict[str, Any], name: str, state: str, dataset: str, baseline: bool = False) -> Experiment:
    data = rev.get("data") or {}
    params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
    rotations = tuple((params.get("pretrain") or {}).get("rotations") or DEFAULT_ROTATIONS)
    nin = (params.get("backbones") or {}).get("nin") or {}
    metrics = data.get("metrics") or {}
    probe = next((v for k, v in metrics.items() if k.replace("\\", "/") == probe_metrics_path(dataset)), {})
    layers = (probe.get("data") or {}).get("layers") or {}
    accs = {b: float(h["nonlinear"]["test_acc"]) for b, h in layers.items() if "test_acc" in h.get("nonlinear", {})}
    if rev.get("error") and state == "done":
        state = "failed"
    return Experiment(name, state, rotations, int(nin.get("blocks", DEFAULT_BLOCKS)), accs, baseline)


def parse_exp_show(rows: list[dict[str, Any]], dataset: str = PAPER_DATASET) -> list[Experiment]:
    """Every baseline commit and experiment of `dvc exp show --json` (DVC 3.x), the workspace left out."""
    if not isinstance(rows, list):
        raise RotnetError("not the output of `dvc exp show --json` (a JSON list of commits expected)")
    out = []
    for commit in rows:
        if commit.get("rev") == "workspace":
            continue
        name = commit.get("name") or str(commit.get("rev", ""))[:7]
        out.append(_experiment(commit, name, "done", dataset, baseline=True))
        for exp in commit.get("experiments") or []:
            revs = exp.get("revs") or [{}]
            state = (exp.get("executor") or {}).get("state") or "done"
            state = "done" if state == "success" else state
            exp_name = exp.get("name") or revs[0].get("name") or str(revs[0].get("rev", ""))[:7]
            out.append(_experiment(revs[0], exp_name, state, dataset))
    return out


def paper_figure(rotations: tuple[int, ...], blocks: int, block: str) -> float | None:
    """Table 1 for the four right angles (per depth and block); Table 2 otherwise (block 2, 4 blocks)."""
    if rotations == DEFAULT_ROTATIONS:
        return nin_probe_figure(blocks, block)
    return ROTATION_SETS.get(rotations) if blocks == 4 and block == "block2" else None


def _order(e: Experiment) -> tuple[Any, ...]:
    sets = list(ROTATION_SETS)
    return (e.blocks, sets.index(e.rotations) if e.rotations in sets else len(sets), e.rotations, e.name)


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


def render(experiments: list[Experiment], dataset: str = PAPER_DATASET) -> str:
    done = sorted((e for e in experiments if e.state == "done" and e.accuracies), key=_order)
    lines = [
        f"NIN, non-linear probe test accuracy per block on {dataset} ({probe_metrics_path(dataset)}), "
        + (
            "beside the paper's (official CIFAR-10; Table 1 per depth for 0/90/180/270, "
            "Table 2 per rotation set: 4 blocks, block 2):"
            if dataset == PAPER_DATASET
            else "(the paper measured CIFAR-10 only):"
        ),
        "",
    ]
    if done:
        blocks = sorted({b for e in done for b in e.accuracies}, key=lambda b: (len(b), b))
        header = ["experiment", "rotations", "NIN blocks"]
        header += [c for b in blocks for c in (f"{b} ours", f"{b} paper")]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for e in done:
            name = e.name + (" (baseline)" if e.baseline else "")
            cells = [name, "/".join(map(str, e.rotations)), e.blocks]
            for b in blocks:
                paper = paper_figure(e.rotations, e.blocks, b) if dataset == PAPER_DATASET else None
                cells += [e.accuracies.get(b), paper]
            lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
    else:
        lines.append(f"No finished experiment has {probe_metrics_path(dataset)} yet.")
    pending = [e for e in experiments if e.state != "done"]
    missing = [e for e in experiments if e.state == "done" and not e.accuracies and not e.baseline]
    if pending or missing:
        lines.append("")
    lines += [f"- {e.name}: {e.state}" for e in pending]
    lines += [f"- {e.name}: finished, without {probe_metrics_path(dataset)}" for e in missing]
    return "\n".join(lines) + "\n"


# --- running dvc -----------------------------------------------------------------------


def _dvc() -> str:
    # The dvc of this environment first (a virtual environment's bin/ need not be on PATH).
    exe = shutil.which("dvc", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if exe is None:
        raise RotnetError("dvc is not installed (or not on PATH); install it: pip install dvc")
    return exe


def _check_repo(cwd: Path) -> None:
    if not any((d / ".dvc").is_dir() for d in (cwd, *cwd.parents)):
        raise RotnetError(f"{cwd} is not inside a DVC repository; run this from the project (where .dvc/ is)")


def queue(args: argparse.Namespace) -> None:
    commands = queue_commands(args.what, args.dataset, args.set or [], args.whole_study)
    if not args.dry_run:
        exe = _dvc()
        _check_repo(Path.cwd())
    for cmd in commands:
        print(shlex.join(cmd), flush=True)
        if args.dry_run:
            continue
        done = subprocess.run([exe, *cmd[1:]], check=False)
        if done.returncode:
            raise RotnetError(f"`{shlex.join(cmd)}` failed (exit {done.returncode}); see DVC's message above")
    if not args.dry_run:
        print("queued; run them with `dvc queue start -j 2`, then `rotnet ablations show`")


def exp_show_json(all_commits: bool = False) -> list[dict[str, Any]]:
    exe = _dvc()
    _check_repo(Path.cwd())
    cmd = [exe, "exp", "show", "--json", *(["--all-commits"] if all_commits else [])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RotnetError(f"`dvc exp show --json` failed (exit {done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)


def show(args: argparse.Namespace) -> None:
    if args.from_file:
        path = Path(args.from_file)
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise RotnetError(f"cannot read {path} as `dvc exp show --json` output: {err}") from None
    else:
        rows = exp_show_json(args.all_commits)
    print(render(parse_exp_show(rows, args.dataset), args.dataset), end="")


def add_parser(sub: Any) -> None:
    """The `rotnet ablations {queue,show}` subcommand."""
    ab = sub.add_parser("ablations", help="queue the paper's ablations as DVC experiments, show them as its tables")
    acts = ab.add_subparsers(dest="action", required=True)
    q = acts.add_parser("queue", help="dvc exp run --queue each variant (then: dvc queue start -j 2)")
    q.add_argument("--what", choices=WHAT, default="all", help="rotation sets (Table 2), NIN depths (Table 1), both")
    q.add_argument("--dataset", default=PAPER_DATASET, help="the study.datasets of each experiment")
    q.add_argument("--whole-study", action="store_true", help="keep the workspace's study (default: NIN only)")
    q.add_argument("-S", "--set", action="append", metavar="KEY=VALUE", help="one more override for every variant")
    q.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    s = acts.add_parser("show", help="the finished experiments beside the paper's figures")
    s.add_argument("--dataset", default=PAPER_DATASET, help="whose probe metrics to show")
    s.add_argument("--from", dest="from_file", metavar="FILE", help="a saved `dvc exp show --json` output")
    s.add_argument("--all-commits", action="store_true", help="experiments of every commit, not only HEAD's")


def main(args: argparse.Namespace) -> None:
    if args.action == "queue":
        queue(args)
    else:
        show(args)
