"""The report's markdown, section by section: pure functions of the collected results.

No file is read or written here and nothing is plotted or inferred: the figures the
sections refer to are named by ``rotnet.report.figures`` and written by the stage. This
module puts the report together; each topic's tables live in their own module
(``tables`` holds what they share).
"""

from __future__ import annotations

import pandas as pd

from rotnet.report.figures import PROBE_FIGURE, dataset_figure
from rotnet.report.gpu_check import GpuCheck, gpu_check_section
from rotnet.report.method_tables import methods_section, tsne_section
from rotnet.report.paper import (
    PAPER_DATA,
    PAPER_DATASET,
    SEMISUP_SOURCE,
    SEMISUP_SOURCE_LONG,
)
from rotnet.report.paper_tables import nin_vs_paper_section, rotation_set_section
from rotnet.report.probe_tables import controls_section, layer_section, summary_section, table1_note
from rotnet.report.results import DatasetResults, StudyResults
from rotnet.report.run_tables import measurement_section, recipe_section, small_input_section
from rotnet.report.semisup_tables import semisup_section
from rotnet.report.supervision_tables import rotation_supervision_section
from rotnet.report.zoo_smoke import ZooSmoke, zoo_smoke_section

# --- training curves and the best classifier (figures written by the stage) -----------


def figures_section(ds: DatasetResults) -> list[str]:
    best = ds.best_classifier
    return [
        "### Training curves (validation accuracy)",
        "",
        f"![training curves]({dataset_figure(ds.dataset, 'curves')})",
        "",
        f"### Best classifier: {best.backbone} {best.kind}, chosen on validation",
        "",
        f"![confusion matrix]({dataset_figure(ds.dataset, 'confusion')})",
        "",
        f"![test images, predicted (true)]({dataset_figure(ds.dataset, 'samples')})",
        "",
    ]


# --- the whole report -----------------------------------------------------------------


def intro_section() -> list[str]:
    return [
        "# RotNet study report",
        "",
        "Accuracies are top-1 % on each dataset's test split, measured once with the weights",
        "chosen on the validation split (epoch and, for probes, the best layer/head).",
        f"Columns headed 'paper' hold figures the paper printed (Gidaris et al. 2018, on {PAPER_DATA.split(',')[0]});",
        f"columns headed '{SEMISUP_SOURCE}' hold {SEMISUP_SOURCE_LONG}. Ours are on the data named in each",
        "section, and each row beside a paper figure lists what still differs from the official run.",
        "",
    ]


def measured_on(rows: pd.DataFrame) -> str:
    """The hardware and the epochs per stage every figure of a dataset section came from."""
    epochs = ", ".join(f"{k} {int(e)}" for k, e in rows.groupby("stage", sort=False).epochs.max().items())
    devices = ", ".join(sorted(set(rows.device)))
    return f"Measured on {devices}; epochs: {epochs}."


def dataset_section(ds: DatasetResults, all_rows: pd.DataFrame, gpu_check: GpuCheck | None = None) -> list[str]:
    out = [f"## {ds.dataset}: {ds.data}", "", measured_on(all_rows), ""]
    rows = all_rows[all_rows.backbone.isin(ds.records)]  # the studied backbones; baselines have no RotNet
    out += summary_section(rows)
    for backbone, g in rows.groupby("backbone", sort=False):
        note = table1_note(ds) if ds.dataset == PAPER_DATASET and backbone == "nin" else None
        out += layer_section(str(backbone), g, note)
    out += controls_section(rows)
    out += methods_section(ds, rows, gpu_check)
    if ds.dataset == PAPER_DATASET:
        out += nin_vs_paper_section(ds, all_rows) + rotation_set_section(ds, rows)
    out += rotation_supervision_section(ds)
    out += small_input_section(ds.small_input)
    out += semisup_section(ds)
    out += recipe_section(ds)
    out += figures_section(ds)
    out += tsne_section(ds)
    return out


def probe_figure_section(figure: str | None) -> list[str]:
    return ["## Probe accuracy per layer", "", f"![probe accuracy per layer]({figure})", ""] if figure else []


def report_lines(
    results: StudyResults,
    figure: str | None = PROBE_FIGURE,
    gpu_check: GpuCheck | None = None,
    zoo_smoke: ZooSmoke | None = None,
) -> list[str]:
    df = results.accuracies
    out = intro_section()
    for name, ds in results.datasets.items():
        out += dataset_section(ds, df[df.dataset == name], gpu_check)
    out += probe_figure_section(figure)
    out += gpu_check_section(gpu_check)
    out += zoo_smoke_section(zoo_smoke)
    out += measurement_section(df)
    return out


def render_markdown(
    results: StudyResults,
    figure: str | None = PROBE_FIGURE,
    gpu_check: GpuCheck | None = None,
    zoo_smoke: ZooSmoke | None = None,
) -> str:
    return "\n".join(report_lines(results, figure, gpu_check, zoo_smoke))
