"""Stage 'report': every run record of the study, side by side and beside the paper.

Writes, under metrics/:
- report.csv: one row per measured accuracy (supervised, rotation, each fine-tuned head, each probe);
- report.png: probe accuracy per feature map;
- report_files/<dataset>_{curves,confusion,samples,semisup}.png;
- report.md and report.html, which show all of the above;
- summary.json: the headline test accuracies, a DVC metrics file for `dvc exp show`.

Reads every run record under models/, the histories under metrics/runs/, the prepared
test images, the validation-chosen best classifier (for sample predictions) and the newest
`make gpu-check` result in benchmarks/results/.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rotnet import paths
from rotnet.atomic import atomic_dir, atomic_path, write_json, write_text
from rotnet.data.prepared import load_prepared
from rotnet.locks import StageLock
from rotnet.params import Params
from rotnet.report import figures, sections
from rotnet.report.gpu_check import latest_result
from rotnet.report.html import render_html
from rotnet.report.method_results import LABELS
from rotnet.report.method_tables import tsne_what
from rotnet.report.results import DatasetResults, collect, headline
from rotnet.report.samples import predict_samples
from rotnet.report.zoo_smoke import latest_smoke
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME

SPEC = BY_NAME["report"]


def write_dataset_figures(ds: DatasetResults, out: Path) -> None:
    """Training curves, the best classifier's confusion matrix and sample predictions, the
    few-labels curve when semisup ran, and each backbone's t-SNE picture of its methods, into
    ``out`` (the report_files folder)."""
    name = ds.dataset
    figures.training_curves(ds.histories, name, out / figures.figure_name(name, "curves"))

    best = ds.best_classifier  # chosen on validation accuracy, as everywhere in the report
    title = f"{name} {best.backbone} {best.kind} (test {best.record['test_acc']:.2f}%)"
    prepared = load_prepared(paths.prepared_dir(name))
    target = out / figures.figure_name(name, "confusion")
    figures.confusion_matrix(best.record["test_confusion"], prepared.class_names, title, target)
    samples = predict_samples(paths.model_file(best.kind, name, best.backbone), best.stage, prepared.test)
    target = out / figures.figure_name(name, "samples")
    figures.sample_grid(samples.images, samples.true, samples.pred, prepared.class_names, title, target)

    if ds.semisup:
        figures.semisup_figure(ds, out / figures.figure_name(name, "semisup"))

    for backbone, found in ds.tsne.items():  # drawn from the points each probe stage wrote
        panels = {f"{LABELS[m]} ({rec['layer']})": rec for m, rec in found.items()}
        target = out / figures.figure_name(name, tsne_what(backbone))
        figures.tsne_figure(panels, prepared.class_names, f"{name} / {backbone}", target)


def run(params: Params) -> None:
    # One report writer at a time; every file is swapped in whole, the figure folder as
    # one (it holds exactly this study's datasets), so a kill leaves each the old or the new.
    with StageLock(paths.stage_lock(SPEC.name), SPEC.name):
        results = collect(params)
        out = paths.report_dir()
        with atomic_dir(out / figures.FILES) as staged:
            for ds in results.datasets.values():
                write_dataset_figures(ds, staged)
        figures.probe_plot(results.accuracies, out / figures.PROBE_FIGURE)
        with atomic_path(out / "report.csv") as tmp:
            results.accuracies.to_csv(tmp, index=False, float_format="%.2f")
        text = sections.render_markdown(results, figures.PROBE_FIGURE, latest_result(), latest_smoke())
        write_text(out / "report.md", text)
        write_text(out / "report.html", render_html(text))
        write_json(paths.summary_file(), headline(results))


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
