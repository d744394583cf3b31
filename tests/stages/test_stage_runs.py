"""Stages run directly (as `python stages/<stage>.py` does), on a tiny synthetic project."""

import json

import pytest
import torch

from rotnet import paths
from rotnet.params import parse_params
from rotnet.probing import frozen
from rotnet.probing.frozen import knn_probe
from rotnet.seeds import choose_once
from rotnet.stages import pretrain, probe, robustness, supervised


def test_identical_runs_write_byte_identical_models(project):
    first = pretrain.run(project, "cifar10", "nin")
    model = paths.model_file("pretrain", "cifar10", "nin").read_bytes()
    again = pretrain.run(project, "cifar10", "nin")  # the finished checkpoint is not resumed: a fresh run
    speed = "images_per_s"  # the one figure that is timed
    assert {k: v for k, v in again.items() if k != speed} == {k: v for k, v in first.items() if k != speed}
    # No times or hosts inside: DVC sees an unchanged model and skips what comes after it.
    assert paths.model_file("pretrain", "cifar10", "nin").read_bytes() == model


def test_metrics_hold_results_and_the_run_record_holds_the_rest(project):
    supervised.run(project, "cifar10", "nin")
    pretrain.run(project, "cifar10", "nin")
    probe.run(project, "cifar10", "nin")
    for kind in ("supervised", "pretrain", "probe"):
        metrics = json.loads(paths.metrics_file(kind, "cifar10", "nin").read_text())
        record = json.loads(paths.record_file(kind, "cifar10", "nin").read_text())
        flat = json.dumps(metrics)
        for detail in ("recipe", "host", "torch", "wall_time_s", "confusion", "per_class", "device", "best_epoch"):
            assert detail not in flat, (kind, detail)
        assert {"recipe", "host", "torch", "wall_time_s", "device", "processes"} <= set(record), kind
        assert "images_per_s" in metrics  # the one throughput figure
    probe_metrics = json.loads(paths.metrics_file("probe", "cifar10", "nin").read_text())
    assert set(probe_metrics["layers"]) == {"block1", "block2", "block3", "block4"}
    assert set(probe_metrics["best"]) == {"layer", "head", "val_acc", "test_acc"}
    assert (paths.checkpoint_dir("probe", "cifar10", "nin") / "last.pt").is_file()


def test_probe_adds_knn_figures_for_every_map_after_the_heads(project, monkeypatch):
    pretrain.run(project, "cifar10", "nin")
    calls = []

    def spy(*args):
        # The heads have trained (their history is written) and kNN draws no random numbers.
        assert paths.history_file("probe", "cifar10", "nin").is_file()
        rng = torch.get_rng_state()
        calls.append(knn_probe(*args))
        assert torch.equal(rng, torch.get_rng_state())
        return calls[-1]

    monkeypatch.setattr(frozen, "knn_probe", spy)
    metrics = probe.run(project, "cifar10", "nin")
    assert len(calls) == 1
    record = json.loads(paths.record_file("probe", "cifar10", "nin").read_text())
    layers = ["block1", "block2", "block3", "block4"]
    assert list(metrics["knn"]) == layers
    for layer in layers:
        assert set(metrics["knn"][layer]) == {"val_acc", "test_acc"}  # results only
        assert all(0 <= acc <= 100 for acc in metrics["knn"][layer].values())
        chosen = record["knn"][layer]
        assert chosen["k"] in project.probe.knn_k and chosen["temperature"] in project.probe.knn_temperature
        assert {k: chosen[k] for k in ("val_acc", "test_acc")} == metrics["knn"][layer]
    best = record["knn_best"]
    assert best["val_acc"] == max(r["val_acc"] for r in metrics["knn"].values())
    assert metrics["knn"][best["layer"]]["test_acc"] == best["test_acc"]


def test_a_baseline_trains_with_labels_where_the_supervised_stage_writes(project):
    from rotnet.errors import RotnetError
    from rotnet.models.saved import load_model_file
    from rotnet.stages import baseline

    params = project.model_copy(
        update={
            "study": project.study.model_copy(update={"baselines": ["nin3"]}),
            "backbones": {**project.backbones, "nin3": {"arch": "nin", "blocks": 3, "width": 8}},
        }
    )
    metrics = baseline.run(params, "cifar10", "nin3")
    saved = load_model_file(paths.model_file("supervised", "cifar10", "nin3"), kind="supervised")
    assert saved["backbone"] == "nin3" and saved["backbone_options"]["blocks"] == 3
    assert not any(k.startswith("stages.block4") for k in saved["state_dict"])
    assert json.loads(paths.metrics_file("supervised", "cifar10", "nin3").read_text()) == metrics
    with pytest.raises(RotnetError, match="not in study.baselines"):
        baseline.run(params, "cifar10", "nin")


def test_controls_probe_a_random_and_the_supervised_backbone_as_the_probe_stage_does(project):
    from rotnet.stages import control

    supervised.run(project, "cifar10", "nin")
    metrics = control.run(project, "cifar10", "nin")
    assert set(metrics) == {"random", "supervised"}
    for init in ("random", "supervised"):
        assert set(metrics[init]) == {"probe_val_acc", "probe_test_acc", "knn_val_acc", "knn_test_acc"}
    record = json.loads(paths.record_file("control", "cifar10", "nin").read_text())
    # Every map and head of the probe stage, and a kNN per map, for each control.
    for init in ("random", "supervised"):
        assert set(record[init]["layers"]) == {"block1", "block2", "block3", "block4"}
        assert set(record[init]["layers"]["block2"]) == {"nonlinear", "linear", "conv"}
        assert set(record[init]["knn"]) == {"block1", "block2", "block3", "block4"}
        assert record[init]["best"]["test_acc"] == metrics[init]["probe_test_acc"]
        assert record[init]["knn_best"]["test_acc"] == metrics[init]["knn_test_acc"]
    # The two controls read different backbones: their kNN figures differ somewhere.
    knn = {
        i: [record[i]["knn"][b]["val_acc"] for b in ("block1", "block2", "block3", "block4")] for i in record["inits"]
    }
    assert knn["random"] != knn["supervised"]
    # A rerun draws the same random backbone and heads: the same figures.
    again = control.run(project, "cifar10", "nin")
    assert again == metrics


def test_several_seeds_write_each_seeds_models_and_the_figures_averaged(project):
    from rotnet.models.saved import load_model_file

    two = project.model_copy(update={"study": project.study.model_copy(update={"seeds": [0, 3]})})
    pretrain.run(two, "cifar10", "nin")
    metrics = probe.run(two, "cifar10", "nin")
    seeds = {s: paths.seeds_dir("pretrain", "cifar10", "nin") / str(s) / "model.pt" for s in (0, 3)}
    weights = {s: load_model_file(f)["state_dict"]["stages.block1.0.weight"] for s, f in seeds.items()}
    assert not torch.equal(weights[0], weights[3])  # each seed its own initialisation and data order
    # The stage folder keeps the first seed's model, for predict, orient and readers of one model.
    assert paths.model_file("pretrain", "cifar10", "nin").read_bytes() == seeds[0].read_bytes()
    assert (paths.seeds_dir("probe", "cifar10", "nin") / "3" / "heads.pt").is_file()
    # Metrics: the mean at the usual key, the std beside it under std, over the seeds listed.
    assert metrics["seeds"] == [0, 3] and "test_acc" in metrics["std"]["best"]
    assert json.loads(paths.metrics_file("probe", "cifar10", "nin").read_text()) == metrics
    record = json.loads(paths.record_file("probe", "cifar10", "nin").read_text())
    per_seed = record["per_seed"]
    assert [per_seed[s]["training_seed"] for s in ("0", "3")] == [0, 3]
    tests = [per_seed[s]["best"]["test_acc"] for s in ("0", "3")]
    assert record["best"]["test_acc"] == pytest.approx(sum(tests) / 2, abs=0.01)
    # One (layer, head) for both seeds, the best on their mean validation accuracy.
    chosen = {(per_seed[s]["best"]["layer"], per_seed[s]["best"]["head"]) for s in ("0", "3")}
    val = [
        {(layer, h): r["val_acc"] for layer, hs in per_seed[s]["layers"].items() for h, r in hs.items()} for s in "03"
    ]
    assert chosen == {choose_once(val)} and "|" not in record["best"]["layer"]
    # Robustness scores each seed's RotNet with that probe head (seeds/ holds no run record).
    params = two.model_copy(
        update={
            "robustness": two.robustness.model_copy(
                update={"models": ["probe"], "corruptions": ["contrast"], "severities": [5]}
            )
        }
    )
    scored = robustness.run(params, "cifar10", "nin")
    clean = json.loads(paths.record_file("robustness", "cifar10", "nin").read_text())["per_seed"]
    assert [clean[s]["probe"]["clean_acc"] for s in ("0", "3")] == tests and "std" in scored
    index = json.loads((paths.seeds_dir("probe", "cifar10", "nin") / "index.json").read_text())
    assert set(index["seeds"]) == {"0", "3"}
    # Back to one seed: outputs where they always were; seeds/ holds only its index, the
    # other seeds' models of the earlier run are gone rather than left stale.
    one = pretrain.run(project, "cifar10", "nin")
    assert "std" not in one and "seeds" not in one
    assert [p.name for p in paths.seeds_dir("pretrain", "cifar10", "nin").iterdir()] == ["index.json"]


def test_the_stage_runs_the_backbones_recipe_and_records_it(project):
    raw = project.model_dump()
    own = {"epochs": 2, "label_smoothing": 0.2, "schedule": {"warmup_epochs": 1}}
    raw["backbones"]["nin"]["recipe"] = {"supervised": own}
    params = parse_params(raw)
    supervised.run(params, "cifar10", "nin")
    record = json.loads(paths.record_file("supervised", "cifar10", "nin").read_text())
    assert record["recipe"]["label_smoothing"] == 0.2 and record["recipe"]["warmup_epochs"] == 1
    assert record["recipe"]["epochs"] == 2 != params.supervised.epochs
