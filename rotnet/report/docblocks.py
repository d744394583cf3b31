"""The docs' measured figures, generated from committed result files, never retyped.

README.md and docs/*.md hold blocks `<!-- results:NAME:begin -->` ... `<!-- results:NAME:end -->`.
`python -m rotnet.report.docblocks` (`make docs`) rewrites each from the newest JSON of its kind under
benchmarks/results/, naming its date and machine; `--check` fails when a committed doc is stale (CI's test does
the same). `record-quick` turns a finished `make quick` (metrics/summary.json and the run records) into
benchmarks/results/quick/<date>-<host>.json, the file the `quick` block and the README's
picture (docs/report-probe.svg, rotnet.report.docfigure) read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rotnet.atomic import write_bytes
from rotnet.errors import RotnetError
from rotnet.report.docfigure import FIGURE, draw, probe_layers
from rotnet.report.gpu_check import equal_cost_lines
from rotnet.report.paper import COMPARISON, nin_probe_figure

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
BLOCK = re.compile(r"(<!-- results:([a-z-]+):begin -->\n)(.*?)(<!-- results:\2:end -->)", re.S)


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and every page under docs/: the files that may hold blocks."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def newest(folder: Path, kind: str) -> tuple[Path, dict[str, Any]]:
    """The newest result of `kind` in `folder` (by date, then file name)."""
    found = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("kind") == kind:
            found.append((str(data.get("date")), path.name, path, data))
    if not found:
        raise RotnetError(f"no '{kind}' result in {folder}; run the command that writes one, then `make docs`")
    _, _, path, data = max(found)
    return path, data


def _source(results: Path, path: Path, data: dict[str, Any], machine: str) -> str:
    return f"Measured {data['date']} on {machine}; from `{path.relative_to(results.parents[1]).as_posix()}`."


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


def quick_block(results: Path) -> list[str]:
    """The headline test accuracies of the newest recorded `make quick`."""
    path, data = newest(results / "quick", "rotnet quick")
    keys: list[str] = []
    for backbones in data["summary"].values():
        for figures in backbones.values():
            keys += [k for k in figures if k not in keys]
    lines = [_source(results, path, data, f"{data['host']} ({data['device']}); data: {data['data']}"), ""]
    lines += ["| dataset | backbone | " + " | ".join(keys) + " |", "| --- | --- |" + " --- |" * len(keys)]
    for dataset, backbones in data["summary"].items():
        for backbone, figures in backbones.items():
            lines.append(f"| {dataset} | {backbone} | " + " | ".join(_pct(figures.get(k)) for k in keys) + " |")
    return lines


def _ratio(value: float | None, spec: str, unit: str) -> str:
    """A ratio, or a dash where a side was not measured (a method has no plain side)."""
    return "–" if value is None else f"{value:{spec}}{unit}"


def gpu_check_block(results: Path) -> list[str]:
    """The newest `make gpu-check`: its throughput table and its time-boxed NIN study beside the paper."""
    path, data = newest(results, "rotnet gpu-check")
    box = f"{data['device']} ({data['elapsed_s']:.0f} s of a {data['budget_s']:.0f} s box)"
    lines = [_source(results, path, data, box)]
    table = data["throughput"]["table"]
    lines += ["", f"Throughput ({data['throughput']['unit']}; batch {data['throughput']['batch']}):", ""]
    lines += ["| workload | plain | engine | model-only | engine eager | engine / plain | engine / model-only |"]
    lines += ["| --- | --- | --- | --- | --- | --- | --- |"]
    for name, row in table.items():
        cells = [f"{row[k]:,.0f}" if row.get(k) is not None else "–" for k in ("plain", "engine", "model_only")]
        cells.append(f"{row['engine_eager']:,.0f}" if row.get("engine_eager") is not None else "–")
        cells += [_ratio(row.get("engine_over_plain"), ".2f", "x"), _ratio(row.get("engine_over_model"), ".0%", "")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += equal_cost_lines(table)
    study = data["study"]
    plan, probe = study["plan"], study["probe"]
    lines += ["", f"NIN study ({plan['pretrain_epochs']} + {plan['probe_epochs']} epochs, {study['data']}):", ""]
    lines += ["| figure (test %) | ours | paper (200 + 100 epochs) |", "| --- | --- | --- |"]
    lines.append(f"| rotation prediction | {_pct(study['pretrain']['rotation_test_acc'])} | – |")
    for layer, heads in probe["layers"].items():
        for head, figs in heads.items():
            if head != "linear":  # the paper's Table 1 (non-linear) and comparison table (conv on block 2)
                conv = head == "conv"
                paper = COMPARISON["RotNet + conv head"] if conv else nin_probe_figure(plan["nin"]["blocks"], layer)
                lines.append(f"| {layer}, {head} head | {_pct(figs['test_acc'])} | {_pct(paper)} |")
    return lines


def zoo_smoke_block(results: Path) -> list[str]:
    """The newest `make zoo-smoke`: each family trained briefly on real images."""
    path, data = newest(results / "zoo-smoke", "rotnet zoo-smoke")
    machine = f"{data['host']} ({data['device']}, {data['cpus']} cores); data: {data['data']}"
    lines = [_source(results, path, data, machine), ""]
    lines += ["| backbone | task | train loss by epoch (chance) | best validation | test (chance) |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for row in data["rows"]:
        losses = ", ".join(f"{x:.2f}" for x in row["train_loss"])
        lines.append(
            f"| {row['backbone']} | {row['task']} | {losses} ({row['chance_loss']:.2f}) | {max(row['val_acc']):.1f}% "
            f"| {row['test_acc']:.1f}% ({row['chance_acc']:.1f}) |"
        )
    return lines


BLOCKS: dict[str, Callable[[Path], list[str]]] = {
    "quick": quick_block,
    "gpu-check": gpu_check_block,
    "zoo-smoke": zoo_smoke_block,
}


def fill(text: str, results: Path = RESULTS) -> str:
    """`text` with every results block regenerated; an unknown block name is an error."""

    def one(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in BLOCKS:
            raise RotnetError(f"unknown docs block 'results:{name}'; known: {', '.join(BLOCKS)}")
        return match.group(1) + "\n".join(BLOCKS[name](results)) + "\n" + match.group(4)

    return BLOCK.sub(one, text)


def record_quick(project: Path, out: Path, date: str) -> Path:
    """Write a finished `make quick`'s headline figures, data, device and host to `out`/<date>-<host>.json."""
    summary_path = project / "metrics" / "summary.json"
    records = sorted(p for p in (project / "models").glob("**/run.json") if "seeds" not in p.parts)
    if not summary_path.is_file() or not records:
        raise RotnetError(f"no finished study in {project} (metrics/summary.json, models/**/run.json); run make quick")
    first = json.loads(records[0].read_text())
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", str(first["host"]))
    result = {"kind": "rotnet quick", "schema": 1, "date": date, "host": first["host"], "device": first["device"]}
    result |= {"data": first["data"], "summary": json.loads(summary_path.read_text())}
    result["probe_layers"] = probe_layers(project)  # the README's picture (rotnet.report.docfigure)
    target = out / f"{date}-{host}.json"
    out.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rotnet.report.docblocks", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("check", help="fail when a doc's block differs from what the results give")
    check.add_argument("--root", type=Path, default=ROOT)
    write = sub.add_parser("write", help="rewrite every block (the default)")
    write.add_argument("--root", type=Path, default=ROOT)
    rec = sub.add_parser("record-quick", help="record the finished make quick of --project as a committed result")
    rec.add_argument("--project", type=Path, default=Path.cwd())
    rec.add_argument("--date", default=dt.datetime.now(dt.UTC).date().isoformat())
    rec.add_argument("--out", type=Path, help="default: the project's benchmarks/results/quick")
    args = parser.parse_args(argv)
    if args.command == "record-quick":
        print(record_quick(args.project, args.out or args.project / "benchmarks" / "results" / "quick", args.date))
        return 0
    root = getattr(args, "root", ROOT)
    stale = []
    for path in doc_files(root):
        text = path.read_text()
        new = fill(text, root / "benchmarks" / "results")
        if new != text:
            stale.append(path.relative_to(root).as_posix())
            if args.command != "check":
                path.write_text(new)
    figure = root / FIGURE
    _, quick = newest(root / "benchmarks" / "results" / "quick", "rotnet quick")
    if "probe_layers" in quick:  # results recorded before the picture have none
        svg = draw(quick)
        if not figure.is_file() or figure.read_bytes() != svg:
            stale.append(FIGURE.as_posix())
            if args.command != "check":
                write_bytes(figure, svg)
    if args.command == "check" and stale:
        print(f"stale results blocks in {', '.join(stale)}: run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
