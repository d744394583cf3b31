"""`rotnet ablations`: the paper's ablations as DVC experiments, and their results as its tables.

``queue`` queues one `dvc exp run --queue -S ...` per variant:

- rotations (the paper's Table 2): ``pretrain.rotations`` = [0, 90, 180, 270], the eight
  multiples of 45, [0, 180] and [90, 270], on the 4-block NIN; beside the eight, the four
  right angles with ``pretrain.mask=circle``: the eight are masked (rotnet.rotation), so
  this control tells the mask's effect from the extra angles';
- depth (Table 1): ``backbones.nin.blocks`` = 3, 4 and 5, on the four right angles.

Both ablations are NIN-only, so each experiment also sets ``study.backbones=[nin]`` and
``study.datasets=[<dataset>]`` (``--whole-study`` keeps the workspace's study). ``show``
reads `dvc exp show --json` (or a saved copy) and prints, for each finished experiment
that differs from its base (the params of the commit it was run from) in an ablation key
(ABLATION_KEYS), its rotation set, mask and NIN depth, and the non-linear probe's test
accuracy on every NIN block (``metrics/runs/<dataset>/nin/probe.json``; for a masked
RotNet also on inputs as it saw them) beside the paper's figure for that variant, and
what else differs from its base. Experiments that differ only elsewhere (a recipe, a
micro-batch) are no ablation rows: one line under the table names them. No torch here:
`rotnet --help` stays fast.
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
from rotnet.report.paper import (
    CONSTRUCTED_SET_NOTE,
    DEFAULT_ROTATIONS,
    PAPER_DATASET,
    ROTATION_SETS,
    nin_probe_figure,
)

DEFAULT_BLOCKS = 4  # the paper's RotNet and the NIN backbone's default
DEFAULT_MASK = "auto"  # pretrain.mask's default
DEPTHS = (3, 4, 5)  # Table 1
WHAT = ("rotations", "depth", "all")
EIGHT = tuple(range(0, 360, 45))
# The params an ablation varies, with the value a params.yaml without the key means.
ABLATION_KEYS: dict[str, Any] = {
    "pretrain.rotations": list(DEFAULT_ROTATIONS),
    "pretrain.mask": DEFAULT_MASK,
    "backbones.nin.blocks": DEFAULT_BLOCKS,
}
# What only selects which stages run (every ablation sets them): not a difference worth a word.
SELECTION_KEYS = ("study.backbones", "study.datasets")
SHOWN_CHANGES = 3  # other changed params named per row; the rest counted


@dataclass(frozen=True)
class Variant:
    """One ablation point: the angle set of the pretext task, its mask, and the NIN depth."""

    rotations: tuple[int, ...] = DEFAULT_ROTATIONS
    blocks: int = DEFAULT_BLOCKS
    mask: str = DEFAULT_MASK

    def overrides(self) -> list[str]:
        return [
            f"pretrain.rotations=[{','.join(map(str, self.rotations))}]",
            f"pretrain.mask={self.mask}",
            f"backbones.nin.blocks={self.blocks}",
        ]


# Table 2's sets, and the masked four beside the (masked) eight.
ROTATION_VARIANTS = (
    Variant(DEFAULT_ROTATIONS),
    Variant(EIGHT),
    Variant(DEFAULT_ROTATIONS, mask="circle"),
    *(Variant(s) for s in ROTATION_SETS if s not in (DEFAULT_ROTATIONS, EIGHT)),
)


def variants(what: str) -> list[Variant]:
    """The paper's variants for one ablation, or both (the shared default point once)."""
    depth = [Variant(blocks=b) for b in DEPTHS]
    chosen = {"rotations": list(ROTATION_VARIANTS), "depth": depth, "all": [*ROTATION_VARIANTS, *depth]}[what]
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


def masked(rotations: Sequence[int], mask: str) -> bool:
    """Whether pretrain.mask masks this set (rotnet.rotation.resolve_mask, without torch)."""
    return any(a % 90 for a in rotations) if mask == "auto" else mask == "circle"


@dataclass
class Experiment:
    name: str
    state: str  # "done", "queued", "running", "failed"
    rotations: tuple[int, ...]
    blocks: int
    accuracies: dict[str, float] = field(default_factory=dict)  # block -> non-linear probe test %
    baseline: bool = False
    mask: str = DEFAULT_MASK
    # block -> the same probe on inputs as a masked RotNet saw them (probe.json's rotnet_view)
    view_accuracies: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)  # params.yaml, flattened to dotted keys
    changes: dict[str, Any] | None = None  # dotted key -> value where it differs from its base; None: unknown

    @property
    def ablation(self) -> bool:
        """Whether it varies an ablation key from its base (unknown params: shown, as before)."""
        return self.changes is None or any(k in ABLATION_KEYS for k in self.changes)

    def other_changes(self) -> dict[str, Any]:
        return {k: v for k, v in (self.changes or {}).items() if k not in ABLATION_KEYS and k not in SELECTION_KEYS}


def probe_metrics_path(dataset: str) -> str:
    return f"metrics/runs/{dataset}/nin/probe.json"


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are values."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def differences(params: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The dotted keys where ``params`` differs from ``base`` (a key one lacks: its default
    for an ablation key, else absent), with ``params``' value."""
    out = {}
    for key in sorted(params.keys() | base.keys()):
        default = ABLATION_KEYS.get(key)
        mine, theirs = params.get(key, default), base.get(key, default)
        if mine != theirs:
            out[key] = mine
    return out


def _block_accuracies(layers: dict[str, Any]) -> dict[str, float]:
    return {b: float(h["nonlinear"]["test_acc"]) for b, h in layers.items() if "test_acc" in h.get("nonlinear", {})}


def _experiment(rev: dict[str, Any], name: str, state: str, dataset: str, baseline: bool = False) -> Experiment:
    data = rev.get("data") or {}
    tree = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
    params = flatten(tree)
    metrics = data.get("metrics") or {}
    probe = next((v for k, v in metrics.items() if k.replace("\\", "/") == probe_metrics_path(dataset)), {})
    probe = probe.get("data") or {}
    if rev.get("error") and state == "done":
        state = "failed"
    return Experiment(
        name,
        state,
        tuple(params.get("pretrain.rotations") or DEFAULT_ROTATIONS),
        int(params.get("backbones.nin.blocks", DEFAULT_BLOCKS)),
        _block_accuracies(probe.get("layers") or {}),
        baseline,
        str(params.get("pretrain.mask") or DEFAULT_MASK),
        _block_accuracies((probe.get("rotnet_view") or {}).get("layers") or {}),
        params,
    )


def parse_exp_show(rows: list[dict[str, Any]], dataset: str = PAPER_DATASET) -> list[Experiment]:
    """Every baseline commit and experiment of `dvc exp show --json` (DVC 3.x), the workspace
    left out; each experiment with its differences from its commit's params."""
    if not isinstance(rows, list):
        raise RotnetError("not the output of `dvc exp show --json` (a JSON list of commits expected)")
    out = []
    for commit in rows:
        if commit.get("rev") == "workspace":
            continue
        name = commit.get("name") or str(commit.get("rev", ""))[:7]
        base = _experiment(commit, name, "done", dataset, baseline=True)
        out.append(base)
        for exp in commit.get("experiments") or []:
            revs = exp.get("revs") or [{}]
            state = (exp.get("executor") or {}).get("state") or "done"
            state = "done" if state == "success" else state
            exp_name = exp.get("name") or revs[0].get("name") or str(revs[0].get("rev", ""))[:7]
            e = _experiment(revs[0], exp_name, state, dataset)
            if e.params and base.params:
                e.changes = differences(e.params, base.params)
            out.append(e)
    return out


def paper_figure(rotations: tuple[int, ...], blocks: int, block: str, mask: str = DEFAULT_MASK) -> float | None:
    """Table 1 for the four right angles (per depth and block); Table 2 otherwise (block 2, 4
    blocks). None for a mask the paper's run of that set did not have (the masked four)."""
    if masked(rotations, mask) != masked(rotations, DEFAULT_MASK):
        return None
    if rotations == DEFAULT_ROTATIONS:
        return nin_probe_figure(blocks, block)
    return ROTATION_SETS.get(rotations) if blocks == 4 and block == "block2" else None


def _order(e: Experiment) -> tuple[Any, ...]:
    sets = [(v.rotations, masked(v.rotations, v.mask)) for v in ROTATION_VARIANTS]
    key = (e.rotations, masked(e.rotations, e.mask))
    return (e.blocks, sets.index(key) if key in sets else len(sets), e.rotations, e.name)


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


def _value(v: Any) -> str:
    return "[" + ",".join(map(str, v)) + "]" if isinstance(v, list) else str(v)


def _brief(changes: dict[str, Any]) -> str:
    """``key=value, ...`` for the first few, then how many more."""
    items = [f"{k}={_value(v)}" for k, v in changes.items()]
    more = len(items) - SHOWN_CHANGES
    return ", ".join(items[:SHOWN_CHANGES]) + (f" (+{more} more)" if more > 0 else "") if items else "–"


def render(experiments: list[Experiment], dataset: str = PAPER_DATASET) -> str:
    shown = [e for e in experiments if e.baseline or e.ablation]
    done = sorted((e for e in shown if e.state == "done" and e.accuracies), key=_order)
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
        views = any(e.view_accuracies for e in done)
        header = ["experiment", "rotations", "mask", "NIN blocks"]
        for b in blocks:
            header += [f"{b} ours", *([f"{b} ours, masked input"] if views else []), f"{b} paper"]
        header.append("other changes")
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for e in done:
            name = e.name + (" (baseline)" if e.baseline else "")
            angles = "/".join(map(str, e.rotations)) + (" *" if any(a % 90 for a in e.rotations) else "")
            cells = [name, angles, "circle" if masked(e.rotations, e.mask) else "none", e.blocks]
            for b in blocks:
                paper = paper_figure(e.rotations, e.blocks, b, e.mask) if dataset == PAPER_DATASET else None
                cells += [e.accuracies.get(b), *([e.view_accuracies.get(b)] if views else []), paper]
            cells.append(_brief(e.other_changes()))
            lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
        notes = []
        if any(any(a % 90 for a in e.rotations) for e in done):
            notes.append(f"* {CONSTRUCTED_SET_NOTE}")
        if views:
            notes.append(
                "masked input: the same probe on inputs shown as the masked RotNet saw them (masked, and "
                'turned by the shared offset where its set has a 45); "ours" reads the images as they are.'
            )
        if notes:
            lines += ["", *notes]
    else:
        lines.append(f"No finished experiment has {probe_metrics_path(dataset)} yet.")
    pending = [e for e in shown if e.state != "done"]
    missing = [e for e in shown if e.state == "done" and not e.accuracies and not e.baseline]
    others = [e for e in experiments if not (e.baseline or e.ablation)]
    if pending or missing or others:
        lines.append("")
    lines += [f"- {e.name}: {e.state}" for e in pending]
    lines += [f"- {e.name}: finished, without {probe_metrics_path(dataset)}" for e in missing]
    if others:
        named = "; ".join(
            f"{e.name} ({_brief(e.other_changes()) if e.other_changes() else 'no change'})" for e in others
        )
        lines.append(f"- not ablations (same {', '.join(ABLATION_KEYS)} as their base): {named}")
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
