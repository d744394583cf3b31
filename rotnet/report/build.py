"""Aggregate every stage's metrics into metrics/report.md, report.csv and report.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from rotnet import paths
from rotnet.atomic import atomic_path, write_text
from rotnet.errors import RotnetError
from rotnet.params import Params
from rotnet.report.paper import COMPARISON, NIN_SUPERVISED, PAPER_DATA, nin_probe_figure

KINDS = ("supervised", "pretrain", "probe")


def _read(kind: str, dataset: str, backbone: str) -> dict[str, Any]:
    path = paths.metrics_file(kind, dataset, backbone)
    if not path.is_file():
        raise RotnetError(f"{path} is missing; run the '{kind}' stage for {dataset}/{backbone} first (dvc repro)")
    return json.loads(path.read_text(encoding="utf-8"))


def _paper_figure(params: Params, backbone: str, layer: str, head: str) -> float | None:
    if backbone != "nin" or head != "nonlinear":
        return None
    return nin_probe_figure(int(params.backbone_options("nin").get("blocks", 4)), layer)


def _row(base: dict[str, Any], stage: str, m: dict[str, Any], **acc: Any) -> dict[str, Any]:
    run = {k: m[k] for k in ("epochs", "wall_time_s", "images_per_s", "device")}
    return {**base, "stage": stage, **acc, **run}


def collect(params: Params) -> pd.DataFrame:
    """One row per measured accuracy: supervised, rotation, and each probe (layer x head)."""
    rows: list[dict[str, Any]] = []
    for dataset in params.study.datasets:
        for backbone in params.study.backbones:
            sup, pre, probe = (_read(k, dataset, backbone) for k in KINDS)
            base = {"dataset": dataset, "data": sup["data"], "backbone": backbone}
            rows.append(
                _row(
                    base,
                    "supervised",
                    sup,
                    method="supervised",
                    layer="",
                    head="",
                    val_acc=sup["val_acc"],
                    test_acc=sup["test_acc"],
                    paper_acc=NIN_SUPERVISED if backbone == "nin" else None,
                )
            )
            rows.append(
                _row(
                    base,
                    "pretrain",
                    pre,
                    method="rotation pretext",
                    layer="",
                    head="rotation",
                    val_acc=pre["rotation_val_acc"],
                    test_acc=pre["rotation_test_acc"],
                    paper_acc=None,
                )
            )
            for layer, heads in probe["layers"].items():
                for head, res in heads.items():
                    rows.append(
                        _row(
                            base,
                            "probe",
                            probe,
                            method="rotnet probe",
                            layer=layer,
                            head=head,
                            val_acc=res["val_acc"],
                            test_acc=res["test_acc"],
                            paper_acc=_paper_figure(params, backbone, layer, head),
                        )
                    )
    return pd.DataFrame(rows)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _summary_rows(df: pd.DataFrame) -> list[list[Any]]:
    rows = []
    for backbone, g in df.groupby("backbone", sort=False):
        sup = g[g.method == "supervised"].iloc[0]
        rot = g[g.method == "rotation pretext"].iloc[0]
        probes = g[g.method == "rotnet probe"]
        best = probes.loc[probes.val_acc.idxmax()]  # chosen on validation, never on test
        rows.append(
            [
                backbone,
                sup.test_acc,
                rot.test_acc,
                f"{best.layer} ({best['head']})",
                best.test_acc,
                best.test_acc - sup.test_acc,
            ]
        )
    return rows


def _layer_rows(g: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    probes = g[g.method == "rotnet probe"]
    heads = list(dict.fromkeys(probes["head"]))
    header = ["layer"] + [f"{h} val" for h in heads] + [f"{h} test" for h in heads] + ["paper (non-linear)"]
    rows = []
    for layer, lg in probes.groupby("layer", sort=False):
        by_head = lg.set_index("head")
        paper = lg.paper_acc.dropna()
        rows.append(
            [layer]
            + [by_head.val_acc.get(h) for h in heads]
            + [by_head.test_acc.get(h) for h in heads]
            + [paper.iloc[0] if len(paper) else None]
        )
    return header, rows


def render_markdown(df: pd.DataFrame, params: Params, figure: str | None) -> str:
    out = [
        "# RotNet study report",
        "",
        "Accuracies are top-1 % on each dataset's test split, measured once with the weights",
        "chosen on the validation split (epoch and, for probes, the best layer/head).",
        f"Paper figures are from Gidaris et al. 2018 on {PAPER_DATA.split(',')[0]}; ours are on the data named",
        "in each section, so compare them with that in mind.",
        "",
    ]
    for dataset, d in df.groupby("dataset", sort=False):
        data = d.data.iloc[0]
        out += [f"## {dataset}: {data}", ""]
        out += ["### Supervised vs RotNet", ""]
        out.append(
            _table(
                [
                    "backbone",
                    "supervised test",
                    "rotation test",
                    "best probe (val-selected)",
                    "probe test",
                    "probe − supervised",
                ],
                _summary_rows(d),
            )
        )
        out.append("")
        for backbone, g in d.groupby("backbone", sort=False):
            sup = g[g.method == "supervised"].iloc[0]
            out += [f"### {backbone}: probe accuracy per layer", ""]
            header, rows = _layer_rows(g)
            out.append(_table(header, rows))
            out += [
                "",
                f"Supervised {backbone}: val {sup.val_acc:.2f}, test {sup.test_acc:.2f} "
                f"({int(sup.epochs)} epochs, {sup.wall_time_s:.0f} s).",
                "",
            ]
        if "nin" in set(d.backbone):
            g = d[d.backbone == "nin"]
            nonlin = g[(g.method == "rotnet probe") & (g["head"] == "nonlinear")]
            ours_best = nonlin.loc[nonlin.val_acc.idxmax()] if len(nonlin) else None
            sup = g[g.method == "supervised"].iloc[0]
            out += ["### NIN beside the paper", ""]
            out.append(
                _table(
                    ["method", f"paper ({PAPER_DATA})", f"ours ({data})"],
                    [
                        ["supervised NIN", COMPARISON["supervised NIN"], sup.test_acc],
                        [
                            "RotNet + non-linear head (best block)",
                            COMPARISON["RotNet + non-linear head"],
                            None if ours_best is None else ours_best.test_acc,
                        ],
                    ],
                )
            )
            out.append("")
    if figure:
        out += ["## Probe accuracy per layer", "", f"![probe accuracy per layer]({figure})", ""]
    out += [
        "## How these were measured",
        "",
        _table(
            ["dataset", "backbone", "stage", "epochs", "wall time (s)", "train images/s", "device"],
            [
                [r.dataset, r.backbone, r.stage, int(r.epochs), r.wall_time_s, r.images_per_s, r.device]
                for r in df.drop_duplicates(["dataset", "backbone", "stage"]).itertuples()
            ],
        ),
        "",
        "Rotation pretraining trains on 4 samples per image; its images/s counts source images.",
        "Per-stage metrics: `metrics/runs/<dataset>/<backbone>/*.json`; compare runs with `dvc metrics diff`.",
        "",
    ]
    return "\n".join(out)


def plot(df: pd.DataFrame, target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(df.groupby(["dataset", "backbone"], sort=False))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.8), squeeze=False)
    for ax, ((dataset, backbone), g) in zip(axes[0], groups, strict=False):
        probes = g[g.method == "rotnet probe"]
        layers = list(dict.fromkeys(probes.layer))
        for head, hg in probes.groupby("head", sort=False):
            ax.plot(layers, hg.set_index("layer").test_acc.reindex(layers), marker="o", label=f"RotNet {head} probe")
        paper = probes[probes.paper_acc.notna()]
        if len(paper):
            ax.plot(list(paper.layer), list(paper.paper_acc), "k--", marker="x", label="paper (official CIFAR-10)")
        sup = g[g.method == "supervised"].test_acc.iloc[0]
        ax.axhline(sup, color="gray", linestyle=":", label="supervised")
        ax.set_title(f"{dataset} / {backbone}\n{g.data.iloc[0]}", fontsize=9)
        ax.set_xlabel("feature map")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def run_report(params: Params) -> pd.DataFrame:
    df = collect(params)
    out = paths.report_dir()
    with atomic_path(out / "report.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.2f")
    plot(df, out / "report.png")
    write_text(out / "report.md", render_markdown(df, params, "report.png"))
    return df
