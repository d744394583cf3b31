"""Aggregate every stage's metrics into metrics/report.md, report.csv and report.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rotnet import paths
from rotnet.atomic import atomic_path, write_text
from rotnet.errors import RotnetError
from rotnet.models.registry import resolve_arch
from rotnet.params import Params
from rotnet.report.paper import COMPARISON, NIN_SUPERVISED, PAPER_DATA, nin_probe_figure

PAPER_DATASET = "cifar10"
KINDS = ("supervised", "pretrain", "probe", "finetune")


def _read(kind: str, dataset: str, backbone: str) -> dict[str, Any]:
    path = paths.metrics_file(kind, dataset, backbone)
    if not path.is_file():
        raise RotnetError(f"{path} is missing; run the '{kind}' stage for {dataset}/{backbone} first (dvc repro)")
    return json.loads(path.read_text(encoding="utf-8"))


def _paper_figure(params: Params, backbone: str, layer: str, head: str) -> float | None:
    """The paper's figure for this NIN probe, when it published one."""
    arch, opts = resolve_arch(backbone, params.backbone_options(backbone))
    if arch != "nin":
        return None
    blocks = int(opts.get("blocks", 4))
    if head == "nonlinear":
        return nin_probe_figure(blocks, layer)
    if head == "conv" and blocks == 4 and layer == "block2":
        return COMPARISON["RotNet + conv head"]
    return None


def _row(base: dict[str, Any], stage: str, m: dict[str, Any], **acc: Any) -> dict[str, Any]:
    run = {k: m[k] for k in ("epochs", "wall_time_s", "images_per_s", "device")}
    return {**base, "stage": stage, **acc, **run}


def collect(params: Params) -> pd.DataFrame:
    """One row per measured accuracy: supervised, rotation, and each probe (layer x head)."""
    rows: list[dict[str, Any]] = []
    for dataset in params.study.datasets:
        for backbone in params.study.backbones:
            sup, pre, probe, fine = (_read(k, dataset, backbone) for k in KINDS)
            base = {"dataset": dataset, "data": sup["data"], "backbone": backbone}
            paper = dataset == PAPER_DATASET  # the paper's figures are CIFAR-10's only
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
                    paper_acc=NIN_SUPERVISED if backbone == "nin" and paper else None,
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
            rows.append(
                _row(
                    base,
                    "finetune",
                    fine,
                    method="rotnet finetune",
                    layer="",
                    head="",
                    val_acc=fine["val_acc"],
                    test_acc=fine["test_acc"],
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
                            paper_acc=_paper_figure(params, backbone, layer, head) if paper else None,
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
        fine = g[g.method == "rotnet finetune"].iloc[0]
        best = probes.loc[probes.val_acc.idxmax()]  # chosen on validation, never on test
        rows.append(
            [
                backbone,
                sup.test_acc,
                rot.test_acc,
                f"{best.layer} ({best['head']})",
                best.test_acc,
                fine.test_acc,
                best.test_acc - sup.test_acc,
                fine.test_acc - sup.test_acc,
            ]
        )
    return rows


def _layer_rows(g: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    probes = g[g.method == "rotnet probe"]
    heads = list(dict.fromkeys(probes["head"]))
    paper_heads = [h for h in heads if probes[probes["head"] == h].paper_acc.notna().any()]
    header = (
        ["layer"] + [f"{h} val" for h in heads] + [f"{h} test" for h in heads] + [f"paper {h}" for h in paper_heads]
    )
    rows = []
    for layer, lg in probes.groupby("layer", sort=False):
        by_head = lg.set_index("head")
        rows.append(
            [layer]
            + [by_head.val_acc.get(h) for h in heads]
            + [by_head.test_acc.get(h) for h in heads]
            + [by_head.paper_acc.get(h) for h in paper_heads]
        )
    return header, rows


def _best(rows: pd.DataFrame) -> float | None:
    """Test accuracy of the validation-selected row, if any."""
    return None if rows.empty else rows.loc[rows.val_acc.idxmax()].test_acc


def _nin_vs_paper(d: pd.DataFrame, data: str) -> list[str]:
    g = d[d.backbone == "nin"]
    if g.empty:
        return []
    probes = g[g.method == "rotnet probe"]
    sup = g[g.method == "supervised"].test_acc.iloc[0]
    fine = g[g.method == "rotnet finetune"].test_acc.iloc[0]
    rows = [
        ["supervised NIN", COMPARISON["supervised NIN"], sup],
        [
            "RotNet + non-linear head (best block)",
            COMPARISON["RotNet + non-linear head"],
            _best(probes[probes["head"] == "nonlinear"]),
        ],
        [
            "RotNet + conv head (block 2)",
            COMPARISON["RotNet + conv head"],
            _best(probes[(probes["head"] == "conv") & (probes.layer == "block2")]),
        ],
        [
            "RotNet fine-tuned (paper: conv head + blocks 1-2; ours: whole network + linear)",
            COMPARISON["RotNet + conv, fine-tuned"],
            fine,
        ],
    ]
    return ["### NIN beside the paper", "", _table(["method", f"paper ({PAPER_DATA})", f"ours ({data})"], rows), ""]


def _small_input_section(dataset: str) -> list[str]:
    """Each small-input choice (e.g. EfficientNet-B0 strides lowered vs input upsampled)
    trained briefly with labels: accuracy and cost side by side."""
    path = paths.small_input_file(dataset)
    if not path.is_file():
        return []
    m = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for name, c in m["choices"].items():
        opts = c["options"]
        if opts.get("small_input") == "upsample":
            choice = f"upsample x{opts.get('upsample_size', 128) // 32} (32 -> {opts.get('upsample_size', 128)})"
        else:
            choice = "stem and first stride-2 stage at stride 1"
        rows.append(
            [
                name,
                c["arch"],
                choice,
                c["val_acc"],
                c["test_acc"],
                c["images_per_s"],
                c["wall_time_s"],
                f"{c['parameters'] / 1e6:.1f}M",
            ]
        )
    header = ["backbone", "arch", "small-input choice", "val", "test", "train images/s", "time (s)", "params"]
    return [
        "### Small images: the choices compared",
        "",
        f"Supervised, {m['epochs']} epochs on {m['train_images']} training images, {m['device']}.",
        "",
        _table(header, rows),
        "",
    ]


def render_markdown(
    df: pd.DataFrame, params: Params, figure: str | None, extra: dict[str, list[str]] | None = None
) -> str:
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
        # Every figure below comes from this data, this profile (epochs per stage) and this hardware.
        epochs = ", ".join(f"{k} {int(e)}" for k, e in d.groupby("stage", sort=False).epochs.max().items())
        devices = ", ".join(sorted(set(d.device)))
        out += [f"Measured on {devices}; epochs: {epochs}.", ""]
        out += ["### Supervised vs RotNet", ""]
        out.append(
            _table(
                [
                    "backbone",
                    "supervised test",
                    "rotation test",
                    "best probe (val-selected)",
                    "probe test",
                    "finetuned test",
                    "probe − supervised",
                    "finetuned − supervised",
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
        if dataset == PAPER_DATASET:
            out += _nin_vs_paper(d, data)
        out += _small_input_section(str(dataset))
        out += (extra or {}).get(str(dataset), [])
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
    from rotnet.report.figures import pyplot, save_figure

    plt = pyplot()
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
    save_figure(fig, target)


FILES = "report_files"  # figures beside report.md / report.html, referenced relatively


def _dataset_figures(dataset: str, d: pd.DataFrame, files: Path) -> list[str]:
    """Training curves, the best classifier's confusion matrix and sample predictions."""
    from rotnet.data.prepared import load_prepared
    from rotnet.inference.model import load_model
    from rotnet.report.figures import confusion_matrix, sample_grid, training_curves

    backbones = list(dict.fromkeys(d.backbone))
    histories = {
        b: {
            k: pd.read_csv(paths.history_file(k, dataset, b))
            for k in KINDS
            if paths.history_file(k, dataset, b).is_file()
        }
        for b in backbones
    }
    training_curves(histories, dataset, files / f"{dataset}_curves.png")
    # The best classifier is chosen on validation accuracy, as everywhere in the report.
    candidates = [
        (_read(kind, dataset, b)["val_acc"], kind, b) for b in backbones for kind in ("supervised", "finetune")
    ]
    _, kind, backbone = max(candidates)
    best = _read(kind, dataset, backbone)
    prepared = load_prepared(paths.prepared_dir(dataset))
    title = f"{dataset} {backbone} {kind} (test {best['test_acc']:.2f}%)"
    confusion_matrix(best["test_confusion"], prepared.class_names, title, files / f"{dataset}_confusion.png")
    import torch

    model = load_model(paths.model_dir(kind, dataset, backbone) / "model.pt", (kind,), torch.device("cpu"), "")
    pick = np.linspace(0, len(prepared.test.labels) - 1, 32).astype(int)  # spread over the classes
    images = prepared.test.images[pick]
    pred = model.probabilities(images).argmax(1).tolist()
    true = prepared.test.labels[pick].tolist()
    sample_grid(images, true, pred, prepared.class_names, title, files / f"{dataset}_samples.png")
    return [
        *_semisup_section(dataset, files),
        "### Training curves (validation accuracy)",
        "",
        f"![training curves]({FILES}/{dataset}_curves.png)",
        "",
        f"### Best classifier: {backbone} {kind}, chosen on validation",
        "",
        f"![confusion matrix]({FILES}/{dataset}_confusion.png)",
        "",
        f"![test images, predicted (true)]({FILES}/{dataset}_samples.png)",
        "",
    ]


def _semisup_section(dataset: str, files: Path) -> list[str]:
    from rotnet.report.figures import semisup_plot
    from rotnet.report.paper import SEMISUP_LABELS, SEMISUP_ROTNET, SEMISUP_SCRATCH

    found = sorted((paths.runs_dir() / dataset).glob(f"*/{paths.semisup_file(dataset, 'x').name}"))
    if not found:
        return []
    runs = [json.loads(f.read_text(encoding="utf-8")) for f in found]
    m = {**runs[0], "points": [p for r in runs for p in r["points"]]}
    paper = None
    if dataset == PAPER_DATASET:
        paper = {"RotNet + conv": (SEMISUP_LABELS, SEMISUP_ROTNET), "supervised": (SEMISUP_LABELS, SEMISUP_SCRATCH)}
    semisup_plot(m["points"], paper, f"{dataset}: {m['data']}", files / f"{dataset}_semisup.png")
    paper_at = dict(zip(SEMISUP_LABELS, zip(SEMISUP_ROTNET, SEMISUP_SCRATCH, strict=True), strict=True))
    rows = []
    for p in m["points"]:
        ref = paper_at.get(p["labels_per_class"]) if paper else None
        rows.append(
            [
                p["backbone"],
                p["labels_per_class"],
                p["scratch"]["test_acc"],
                p["rotnet"]["test_acc"],
                p["rotnet"]["test_acc"] - p["scratch"]["test_acc"],
                ref[1] if ref else None,
                ref[0] if ref else None,
            ]
        )
    header = [
        "backbone",
        "labels/class",
        "from scratch",
        "RotNet + conv head",
        "RotNet − scratch",
        "paper scratch",
        "paper RotNet",
    ]
    return [
        "### Few labels: RotNet vs training from scratch (paper fig. 5b)",
        "",
        f"Test accuracy, {m['epochs']} epochs per run, {m['device']}.",
        "",
        _table(header, rows),
        "",
        f"![semi-supervised]({FILES}/{dataset}_semisup.png)",
        "",
    ]


def render_html(markdown_text: str) -> str:
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.4}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
    )
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>RotNet study report</title>"
        f"<style>{style}</style></head><body>\n{body}\n</body></html>\n"
    )


def run_report(params: Params) -> pd.DataFrame:
    df = collect(params)
    out = paths.report_dir()
    with atomic_path(out / "report.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.2f")
    plot(df, out / "report.png")
    files = out / FILES
    files.mkdir(parents=True, exist_ok=True)
    for old in files.glob("*.png"):  # figures of datasets no longer in the study
        old.unlink()
    extra = {str(ds): _dataset_figures(str(ds), d, files) for ds, d in df.groupby("dataset", sort=False)}
    text = render_markdown(df, params, "report.png", extra)
    write_text(out / "report.md", text)
    write_text(out / "report.html", render_html(text))
    return df
