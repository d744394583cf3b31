"""The report stage end to end on a fake study: every output written, every image linked."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.report import sections
from rotnet.report.results import collect
from rotnet.stages import report
from tests.report import study
from tests.stages.outputs import BACKBONE, datasets, metrics, read_json


@pytest.fixture
def fake_study(tmp_path, monkeypatch):
    params = study.make_params()
    study.write_study(tmp_path, params)
    monkeypatch.chdir(tmp_path)
    return params


def test_stage_writes_every_output(fake_study):
    stale = paths.report_dir() / "report_files" / "gone_curves.png"  # a dataset no longer in the study
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")

    report.run(fake_study)

    out = paths.report_dir()
    csv = pd.read_csv(out / "report.csv")
    assert len(csv) == 2 * (4 + 9 + 4 + 4 + 8 + 4) + 1 + 50  # kNN rows; cifar10: nin3 baseline, controls
    assert "89.06" in (out / "report.csv").read_text()  # paper_acc, two decimals
    text = (out / "report.md").read_text()
    assert text == sections.render_markdown(collect(fake_study))
    assert (out / "report.png").stat().st_size > 1000
    assert not stale.exists()
    names = sorted(p.name for p in (out / "report_files").iterdir())
    assert names == sorted(f"{d}_{w}.png" for d in ("cifar10", "shapes") for w in study.FIGURES)

    html = (out / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "<table>" in html
    sources = re.findall(r'<img[^>]* src="([^"]+)"', html)
    assert len(sources) == 1 + 4 * 2  # probe plot + curves, confusion, samples, semisup per dataset
    assert all((out / src).is_file() for src in sources)


def test_missing_record_stops_the_stage_before_writing(fake_study):
    paths.record_file("finetune/nonlinear", "cifar10", "nin").unlink()
    with pytest.raises(RotnetError, match="run the 'finetune@cifar10-nin-nonlinear' stage for cifar10/nin"):
        report.run(fake_study)
    assert not Path("metrics/report.md").exists() and not Path("metrics/report.csv").exists()


def test_headline_metrics_are_the_val_selected_test_figures(fake_study):
    import json

    report.run(fake_study)
    summary = json.loads(paths.summary_file().read_text())
    results = collect(fake_study)
    assert list(summary) == list(results.datasets)
    for name, ds in results.datasets.items():
        assert list(summary[name]) == ds.backbones
        for backbone, runs in ds.records.items():
            figures = summary[name][backbone]
            assert set(figures) == {"supervised", "rotation", "probe", "finetune_conv", "finetune_nonlinear"}
            assert figures["probe"] == runs["probe"]["best"]["test_acc"]  # chosen on validation
            assert figures["rotation"] == runs["pretrain"]["rotation_test_acc"]


@pytest.mark.slow
def test_the_tiny_studys_report_tables_each_dataset_with_what_its_stages_measured(tiny_study):
    repo, out = tiny_study.repo, tiny_study.repo / paths.report_dir()
    summary = read_json(repo, paths.summary_file())
    assert list(summary) == datasets(tiny_study)
    text = (out / "report.md").read_text()
    table = pd.read_csv(out / "report.csv")
    for name in datasets(tiny_study):
        headline = summary[name][BACKBONE]
        assert headline["supervised"] == metrics(tiny_study, "supervised", name)["test_acc"]
        assert headline["rotation"] == metrics(tiny_study, "pretrain", name)["rotation_test_acc"]
        assert headline["probe"] == metrics(tiny_study, "probe", name)["best"]["test_acc"]
        for head in tiny_study.params["finetune"]["heads"]:
            finetuned = metrics(tiny_study, paths.variant_kind("finetune", head), name)
            assert headline[f"finetune_{head}"] == finetuned["test_acc"], (name, head)
        # The dataset's first table (supervised vs RotNet) opens with the supervised test figure.
        section = text.split(f"\n## {name}: ", 1)[1].split("\n## ", 1)[0]
        row = next(line for line in section.splitlines() if line.startswith(f"| {BACKBONE} | "))
        assert row.split("|")[2].strip().startswith(f"{headline['supervised']:.2f}")
        supervised = table[(table.dataset == name) & (table.backbone == BACKBONE) & (table.stage == "supervised")]
        assert len(supervised) == 1
        assert supervised.test_acc.iloc[0] == pytest.approx(headline["supervised"], abs=0.005)
    sources = re.findall(r'<img[^>]* src="([^"]+)"', (out / "report.html").read_text())
    assert sources and all((out / src).is_file() for src in sources)
