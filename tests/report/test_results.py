"""Collection: every run record of the study into one results object."""

from __future__ import annotations

import json
import math

import pytest

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.report.results import collect
from tests.report import study

CSV_COLUMNS = [
    "dataset",
    "data",
    "backbone",
    "stage",
    "method",
    "layer",
    "head",
    "val_acc",
    "test_acc",
    "test_std",
    "paper_acc",
    "epochs",
    "wall_time_s",
    "images_per_s",
    "device",
]


def test_one_row_per_accuracy_with_the_report_csv_columns(results):
    df = results.accuracies
    assert list(df.columns) == CSV_COLUMNS
    # per dataset: supervised, rotation, finetune conv and nonlinear per backbone; NIN 4 layers
    # x 2 heads + conv on block2; ResNet-18 4 layers x 2 heads; a kNN probe on each of the 4
    # layers per backbone
    assert len(df) == 2 * (4 + 9 + 4 + 4 + 8 + 4) + 1 + 50  # + the nin3 baseline and the controls on cifar10
    assert list(results.datasets) == ["cifar10", "shapes"]
    rot = df[(df.dataset == "shapes") & (df.backbone == "nin") & (df.stage == "pretrain")].iloc[0]
    assert (rot.method, rot["head"], rot.val_acc, rot.test_acc) == ("rotation pretext", "rotation", 90.0, 89.5)
    assert (rot.epochs, rot.wall_time_s, rot.images_per_s, rot.device) == (4, 30.0, 99.5, "cpu (2 threads)")


def test_knn_rows_one_per_layer_without_paper_figures(results):
    df = results.accuracies
    knn = df[(df.dataset == "cifar10") & (df.backbone == "nin") & (df.method == "rotnet knn")]
    assert list(knn.layer) == study.LAYERS["nin"] and set(knn["head"]) == {"knn"} and set(knn.stage) == {"probe"}
    block3 = knn.set_index("layer").loc["block3"]
    assert (block3.val_acc, block3.test_acc) == (58.0, 59.25) and math.isnan(block3.paper_acc)
    assert block3.epochs == 2 and block3.device == "cpu (2 threads)"  # the probe run's


def test_probe_records_without_knn_still_collect(tmp_path, monkeypatch):
    params = study.make_params(("shapes",))
    study.write_study(tmp_path, params, models=False)
    monkeypatch.chdir(tmp_path)
    path = paths.record_file("probe", "shapes", "nin")
    record = json.loads(path.read_text())
    del record["knn"]  # a run from before the kNN probe
    path.write_text(json.dumps(record))
    df = collect(params).accuracies
    assert len(df) == 33 - 4
    assert set(df[df.method == "rotnet knn"].backbone) == {"resnet18"}


def test_paper_figures_only_on_cifar10_nin(results):
    df = results.accuracies
    cifar_nin = df[(df.dataset == "cifar10") & (df.backbone == "nin")].set_index(["stage", "layer", "head"])
    # The paper's 92.80 is a 3-block NIN: the baseline, not the RotNet's 4-block supervised twin.
    assert math.isnan(cifar_nin.paper_acc[("supervised", "", "")])
    nin3 = df[(df.backbone == "nin3")]
    assert list(nin3.dataset) == ["cifar10"] and list(nin3.paper_acc) == [92.80] and list(nin3.test_acc) == [69.5]
    assert cifar_nin.paper_acc[("probe", "block2", "nonlinear")] == 89.06
    assert cifar_nin.paper_acc[("probe", "block2", "conv")] == 91.16
    assert math.isnan(cifar_nin.paper_acc[("probe", "block2", "linear")])
    # Both fine-tuned heads, each beside its own paper figure.
    assert cifar_nin.paper_acc[("finetune/conv", "block2", "conv")] == 92.17
    assert cifar_nin.paper_acc[("finetune/nonlinear", "block2", "nonlinear")] == 91.73
    assert cifar_nin.test_acc[("finetune/nonlinear", "block2", "nonlinear")] == 79.5
    others = df[(df.dataset != "cifar10") | ~df.backbone.isin(["nin", "nin3"])]
    assert others.paper_acc.isna().all()


def test_dataset_results_hold_records_histories_and_optional_sections(results):
    ds = results.datasets["cifar10"]
    assert ds.data == "cifar10 (image folder images)"
    assert ds.backbones == ["nin", "resnet18"]
    kinds = {"supervised", "pretrain", "probe", "finetune/conv", "finetune/nonlinear"}
    assert set(ds.records["nin"]) == kinds and set(ds.histories["resnet18"]) == kinds
    assert "val_acc/layer4_nonlinear" in ds.histories["resnet18"]["probe"].columns
    assert [(p["backbone"], p["labels_per_class"]) for p in ds.semisup_points] == [("nin", 20), ("nin", 100)]
    assert set(ds.small_input["choices"]) == {"efficientnet_b0", "efficientnet_b0_upsample"}


def test_best_classifier_is_chosen_on_validation_not_test(results):
    best = results.datasets["cifar10"].best_classifier
    # nin's fine-tuned conv head has the best validation accuracy; resnet18 supervised the best test accuracy
    assert (best.kind, best.backbone, best.record["val_acc"]) == ("finetune/conv", "nin", 80.0)
    assert best.stage == "finetune"  # the kind its model file records


def test_reads_run_records_not_metrics_files(tmp_path, monkeypatch):
    params = study.make_params(("shapes",))
    study.write_study(tmp_path, params, models=False)
    monkeypatch.chdir(tmp_path)
    assert not list(paths.runs_dir().rglob("*.json"))  # only histories live under metrics/runs
    assert len(collect(params).accuracies) == 33


def test_missing_record_names_the_file_and_the_stage(tmp_path, monkeypatch):
    params = study.make_params(("shapes",))
    study.write_study(tmp_path, params, models=False)
    monkeypatch.chdir(tmp_path)
    paths.record_file("probe", "shapes", "resnet18").unlink()
    with pytest.raises(RotnetError) as err:
        collect(params)
    assert "models/shapes/resnet18/probe/run.json" in str(err.value)
    assert "run the 'probe' stage for shapes/resnet18" in str(err.value)


def test_semisup_and_small_input_are_optional(tmp_path, monkeypatch):
    params = study.make_params(("shapes",), semisup=("nin", "resnet18"))
    study.write_study(tmp_path, params, models=False)
    monkeypatch.chdir(tmp_path)
    ds = collect(params).datasets["shapes"]
    assert [r["backbone"] for r in ds.semisup] == ["nin", "resnet18"]
    paths.record_file("semisup", "shapes", "nin").unlink()
    paths.small_input_record("shapes").unlink()
    ds = collect(params).datasets["shapes"]
    assert [r["backbone"] for r in ds.semisup] == ["resnet18"]
    assert ds.small_input is None


def _shapes_study(tmp_path, monkeypatch):
    """The fake study of one dataset ("shapes"), written and made the working directory."""
    params = study.make_params(("shapes",))
    study.write_study(tmp_path, params, models=False)
    monkeypatch.chdir(tmp_path)
    return params


def _edit_record(stage: str, backbone: str, **changes) -> None:
    path = paths.record_file(stage, "shapes", backbone)
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_records_over_several_seeds_give_each_figure_its_std(tmp_path, monkeypatch):
    params = _shapes_study(tmp_path, monkeypatch)
    _edit_record(
        "probe", "nin", std={"layers": {"block2": {"conv": {"test_acc": 1.25}}}, "knn": {"block1": {"test_acc": 0.5}}}
    )
    df = collect(params).accuracies.set_index(["backbone", "method", "layer", "head"])
    assert df.test_std[("nin", "rotnet probe", "block2", "conv")] == 1.25
    assert df.test_std[("nin", "rotnet knn", "block1", "knn")] == 0.5
    assert math.isnan(df.test_std[("nin", "rotnet probe", "block2", "nonlinear")])  # one seed: no std


def test_headline_figures_carry_their_std_over_seeds(tmp_path, monkeypatch):
    from rotnet.report.results import headline

    params = _shapes_study(tmp_path, monkeypatch)
    _edit_record("supervised", "nin", std={"test_acc": 0.75})
    figures = headline(collect(params))["shapes"]
    assert figures["nin"]["std"] == {"supervised": 0.75} and "std" not in figures["resnet18"]
    assert set(figures["nin"]) == {"supervised", "rotation", "probe", "finetune_conv", "finetune_nonlinear", "std"}
    assert (figures["nin"]["finetune_conv"], figures["nin"]["finetune_nonlinear"]) == (78.5, 79.5)


def test_supervised_rot_rows_one_per_figure_with_the_upright_copy_for_joint():
    from rotnet.report.results import supervised_rot_rows

    joint = {"mode": "joint", "weight": None, "val_acc": 74.0, "test_acc": 73.5, "epochs": 3}
    joint |= {"data": "d", "wall_time_s": 1.0, "images_per_s": 10.0, "device": "cpu"}
    joint |= {"upright_val_acc": 70.0, "upright_test_acc": 69.0}
    rows = supervised_rot_rows("cifar10", "nin", joint)
    assert [r["method"] for r in rows] == ["supervised+rot (joint)", "supervised+rot (joint, upright copy only)"]
    assert [r["test_acc"] for r in rows] == [73.5, 69.0]
