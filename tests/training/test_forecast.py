"""The study's length on this device, from the committed cost measurements: one line when it
is more than a day, none when it is not or when nothing measured this kind of device."""

from __future__ import annotations

import json

import torch
import yaml

from rotnet.params import parse_params
from rotnet.profiles import load_profile, merge
from rotnet.training.forecast import RESULTS, forecast_line, measured_rates, study_seconds
from tests.conftest import REPO_ROOT

CPU = torch.device("cpu")


def _params(**study):
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw["study"].update(study)
    return parse_params(raw)


def _zoo(folder, rows, date="2026-11-29"):
    (folder / "zoo-smoke").mkdir(parents=True, exist_ok=True)
    data = {"kind": "rotnet zoo-smoke", "device": "cpu", "cpus": 2, "date": date, "rows": rows}
    (folder / "zoo-smoke" / f"{date}-vm.json").write_text(json.dumps(data))


def test_the_committed_cpu_figures_put_the_full_study_at_weeks_and_quick_under_a_day():
    params = _params()
    line = forecast_line(params, CPU, 45_000)
    assert line is not None and "`make quick` runs the whole DAG in minutes" in line
    assert "benchmarks/zoo_smoke.py on 2 CPU cores" in line
    days = float(line.split("at least ")[1].split(" days")[0])
    assert days > 14  # NIN alone: 200 supervised + 200 rotation epochs of 45,000 images at tens of images/s
    # The quick profile on the mini archive's 4,500 training images: minutes, no line.
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    quick = parse_params(merge(raw, load_profile(str(REPO_ROOT / "profiles" / "quick.yaml"))))
    assert forecast_line(quick, CPU, 4_500) is None


def test_the_sum_covers_what_was_measured_and_says_how_much(tmp_path):
    _zoo(tmp_path, [{"backbone": "nin", "task": "supervised", "images_per_s": 100.0}])
    _zoo(tmp_path, [{"backbone": "nin", "task": "supervised", "images_per_s": 1.0}], date="2026-01-01")  # older
    rates, source = measured_rates(CPU, tmp_path)
    assert rates == {("nin", "supervised"): 100.0} and "2026-11-29" in source
    params = _params(backbones=["nin", "resnet18"], datasets=["cifar10"], seeds=[0, 1])
    seconds, covered, runs = study_seconds(params, rates, 1000)
    assert (covered, runs) == (2, 8)  # nin supervised, two seeds, of 2 backbones x 2 sections x 2 seeds
    assert seconds == 2 * params.recipe("supervised", "nin").epochs * 1000 / 100.0
    assert "2 of its 8 supervised and RotNet pretraining runs" in forecast_line(params, CPU, 1_000_000, tmp_path)


def test_no_measurement_of_this_kind_of_device_says_nothing(tmp_path):
    assert measured_rates(CPU, tmp_path) is None and forecast_line(_params(), CPU, 45_000, tmp_path) is None
    (tmp_path / "zoo-smoke").mkdir()
    (tmp_path / "zoo-smoke" / "broken.json").write_text("{")
    assert measured_rates(CPU, tmp_path) is None
    assert RESULTS.is_dir()  # the committed results the stages read
