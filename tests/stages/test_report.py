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
