"""The report put together: its sections in order, each dataset's part, from the collected results alone
(each topic's tables on their own: test_probe_tables.py, test_run_tables.py, test_paper_tables.py, ...)."""

from __future__ import annotations

import dataclasses
import os

from rotnet.report import sections
from rotnet.report.results import StudyResults


def _section(report: str, dataset: str) -> str:
    """One dataset's part of the report."""
    part = report.split(f"\n## {dataset}: ", 1)[1]
    return part.split("\n## ", 1)[0]


def test_report_layout(results):
    report = sections.render_markdown(results)
    headings = [line for line in report.splitlines() if line.startswith("#")]
    assert headings[0] == "# RotNet study report"
    assert "## cifar10: cifar10 (image folder images)" in headings
    assert "## shapes: shapes (image folder images)" in headings
    assert headings[-2:] == ["## Probe accuracy per layer", "## How these were measured"]
    assert "![probe accuracy per layer](report.png)" in report
    cifar = [h for h in headings if h.startswith("###")][:11]
    assert cifar == [
        "### Supervised vs RotNet",
        "### nin: probe accuracy per layer",
        "### resnet18: probe accuracy per layer",
        "### Methods and controls: the same probes on every frozen backbone",
        "### NIN beside the paper",
        "### Small images: the choices compared",
        "### Few labels: RotNet vs training from scratch (the paper's fig. 5b experiment)",
        "### Recipes: what each backbone ran with",
        "### Training curves (validation accuracy)",
        "### Best classifier: nin finetune/conv, chosen on validation",
        "### Supervised vs RotNet",  # the next dataset
    ]
    assert "## Probe accuracy per layer" not in sections.render_markdown(results, figure=None)


def test_dataset_heading_is_the_prepared_label_with_its_cuts(results, tmp_path, monkeypatch):
    from rotnet.data import fashion
    from rotnet.params import DatasetParams
    from rotnet.stages.prepare import prepare
    from tests.data.test_fashion import make_idx_folder, md5

    # Fashion-MNIST-format files of other images, cut: the label says so, and the heading shows it.
    make_idx_folder(tmp_path / "idx")
    cfg = DatasetParams(source="idx", val_size=10, train_per_class=3)
    label = prepare("fashion_mnist", cfg, tmp_path / "idx", tmp_path / "other", 0)["description"]
    ds = dataclasses.replace(results.datasets["shapes"], data=label)
    heading = sections.dataset_section(ds, results.accuracies[results.accuracies.dataset == "shapes"])[0]
    assert heading == (
        f"## shapes: Fashion-MNIST format, from {tmp_path / 'idx'}; train cut to the first 3 images per class; "
        "validation 10 images (default 5,000)"
    )
    assert "official" not in heading
    # The same files, when the official md5 table names them, are the official data.
    monkeypatch.setattr(fashion, "FASHION_MD5", {f: md5(tmp_path / "idx" / f) for f in fashion.FASHION_MD5})
    label = prepare("fashion_mnist", cfg, tmp_path / "idx", tmp_path / "off", 0)
    assert label["description"].startswith("Fashion-MNIST (official); train cut to the first 3 images per class")


def test_optional_sections_left_out_without_records(results):
    ds = dataclasses.replace(results.datasets["shapes"], semisup=[], small_input=None)
    report = sections.render_markdown(StudyResults(results.accuracies, {**results.datasets, "shapes": ds}))
    shapes = _section(report, "shapes")
    assert "Few labels" not in shapes and "Small images" not in shapes and "semisup.png" not in shapes
    assert "Few labels" in _section(report, "cifar10")


def test_rendering_touches_no_files(results, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sections.render_markdown(results) == sections.render_markdown(results)
    assert not os.listdir(tmp_path)


def test_every_table_beside_paper_figures_says_what_still_differs(results):
    report = sections.render_markdown(results)
    cifar, shapes = _section(report, "cifar10"), _section(report, "shapes")
    differs = "What still differs from the official run: data: cifar10 (image folder images)"
    table1 = cifar[cifar.index("### nin: probe accuracy per layer") : cifar.index("### resnet18: probe accuracy")]
    assert "Paper columns: the paper's Table 1" in table1 and differs in table1
    assert "reads the best-validation RotNet (epoch 4; official: the last epoch)" in table1
    resnet = cifar[cifar.index("### resnet18: probe accuracy") :].split("###")[1]
    assert "Paper columns" not in resnet  # no paper figure, no note
    assert "What still differs from the official runs: data:" in cifar  # the few-labels table
    assert "What still differs" not in shapes


def test_paper_tables_and_columns_only_on_the_papers_dataset(results):
    report = sections.render_markdown(results)
    cifar, shapes = _section(report, "cifar10"), _section(report, "shapes")
    assert "### NIN beside the paper" in cifar
    assert "| nin | 71.25 | 89.50 | block2 (nonlinear) | 68.00 |" in cifar  # the summary, per dataset
    # the same per-layer figures on shapes, without the paper's columns
    assert "| block2 | 70.00 | 65.00 | 69.50 | 68.00 | 64.00 | 74.00 | 62.50 | 61.00 | 89.06 | 91.16 |" in cifar
    assert "| block2 | 70.00 | 65.00 | 69.50 | 68.00 | 64.00 | 74.00 | 62.50 | 61.00 |\n" in shapes
    for paper in ("NIN beside the paper", "89.06", "91.16", "92.80", "33.66", "64.63", "Controls"):
        assert paper not in shapes


def test_what_and_where_each_dataset_was_measured_and_its_figures(results):
    report = sections.render_markdown(results)
    cifar = _section(report, "cifar10")
    epochs = "supervised 3, pretrain 4, finetune/conv 3, finetune/nonlinear 3, probe 2, control 2, baseline 3"
    assert f"Measured on cpu (2 threads); epochs: {epochs}." in cifar
    for what, alt in (("curves", "training curves"), ("confusion", "confusion matrix")):
        assert f"![{alt}](report_files/cifar10_{what}.png)" in cifar
    assert "![test images, predicted (true)](report_files/cifar10_samples.png)" in cifar
    measured = report.split("## How these were measured", 1)[1]  # every run's row: test_run_tables.py
    assert "| cifar10 | nin | supervised | 3 | 12.50 | 1234.50 | cpu (2 threads) |" in measured
