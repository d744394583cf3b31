from pathlib import Path

import pytest
import yaml

from rotnet.errors import RotnetError
from rotnet.params import load_params, parse_params

ROOT = Path(__file__).resolve().parents[1]


def test_committed_params_are_valid_and_paper_scale():
    p = load_params(ROOT / "params.yaml")
    assert p.pretrain.epochs == 200 and p.pretrain.schedule.milestones == [60, 120, 160]
    assert p.pretrain.schedule.gamma == 0.2 and p.pretrain.optimizer.lr == 0.1
    assert p.probe.epochs == 100 and p.backbone_options("nin") == {"blocks": 4, "width": 192, "init": "kaiming"}
    # The official heads' own drops: non-linear 20/40/45, conv (and linear) 35/70/85.
    assert p.probe.head_milestones == {"nonlinear": [20, 40, 45]} and p.probe.schedule.milestones == [35, 70, 85]
    assert p.finetune.heads == ["conv", "nonlinear"] and p.finetune.network == "paper"  # the paper's two rows


@pytest.mark.parametrize(
    "raw,words",
    [
        ({"supervised": {"optimizer": {"lr": -1}}}, ["supervised.optimizer.lr", "greater than 0", "-1"]),
        ({"pretrain": {"batch_size": 0}}, ["pretrain.batch_size"]),
        ({"probe": {"epochs": 10}}, ["milestones", "< epochs (10)"]),
        ({"probe": {"heads": ["mlp"]}}, ["probe.heads", "nonlinear", "linear"]),
        (
            {"probe": {"epochs": 30, "schedule": {"milestones": [10]}, "head_milestones": {"nonlinear": [20, 40]}}},
            ["head_milestones.nonlinear", "< epochs (30)"],
        ),
        (
            {"probe": {"schedule": {"name": "cosine"}, "head_milestones": {"conv": [5]}}},
            ["head_milestones.conv", "schedule.name: step"],
        ),
        ({"supervised": {"optimizer": {"name": "lamb"}}}, ["optimizer.name", "sgd", "adamw", "rangerlars"]),
        ({"pretrain": {"augment": {"cutmix_prob": 0.5}}}, ["cutmix_prob must be 0 for rotation pretraining"]),
        (
            {"supervised": {"augment": {"cutmix_prob": 1.5}}},
            ["supervised.augment.cutmix_prob", "less than or equal to 1"],
        ),
        ({"supervised": {"label_smoothing": 1.0}}, ["supervised.label_smoothing", "less than 1"]),
        ({"supervised": {"schedule": {"name": "warmcosine"}}}, ["schedule.name", "onecycle", "plateau"]),
        ({"supervised": {"schedule": {"name": "onecycle", "warmup_epochs": 2}}}, ["own warm-up"]),
        ({"supervised": {"augment": {"resize_scale": [0.9, 0.5]}}}, ["resize_scale"]),
        ({"datasets": {"cifar10": {"val_size": -5}}}, ["datasets.cifar10.val_size"]),
        ({"datasets": {"cifar10": {"path": "/data/x.zip"}}}, ["'path' is gone", "rotnet data add <dataset> PATH"]),
        ({"study": {"datasets": ["mnist"]}}, ["mnist", "no entry under 'datasets'"]),
        ({"runtime": {"device": "gpu"}}, ["runtime.device"]),
        # A typo in a corruption fails when params are read, not hours later in robustness.
        ({"robustness": {"corruptions": ["gausian_noise"]}}, ["robustness", "['gausian_noise']", "'gaussian_noise'"]),
        (
            {"study": {"backbones": ["nin"], "baselines": ["nin"]}},
            ["study", "both study.backbones and study.baselines"],
        ),
        ({"supervised": {"epoch": 3}}, ["supervised.epoch", "Extra inputs"]),
        # The single head of before: the message names the key that replaced it.
        ({"finetune": {"head": "conv"}}, ["finetune.head was replaced by finetune.heads", "heads: [conv]"]),
        ({"finetune": {"heads": ["conv", "conv"]}}, ["finetune", "lists a head twice"]),
        ({"finetune": {"heads": []}}, ["finetune.heads", "at least 1"]),
        ({"finetune": {"network": "whole"}}, ["network: whole", "heads must be [linear]", "['conv', 'nonlinear']"]),
        (
            {"backbones": {"nin": {"recipe": {"finetune": {"head": "conv"}}}}},
            ["backbones.nin.recipe.finetune", "finetune.head was replaced by finetune.heads"],
        ),
    ],
)
def test_bad_params_name_the_key_and_the_fix(raw, words):
    with pytest.raises(RotnetError) as err:
        parse_params(raw)
    msg = str(err.value)
    for word in words:
        assert word in msg
    assert "Fix these keys" in msg


def test_unknown_backbone_in_study_lists_valid_ones():
    names = r"efficientnet_b0, .*nin, resnet101, .*resnet18"
    with pytest.raises(RotnetError, match=rf"unknown backbone 'alexnet'; valid backbones: {names}"):
        parse_params({"study": {"backbones": ["alexnet"]}})


def test_backbone_options_are_checked_against_the_registry():
    with pytest.raises(RotnetError, match="backbones.nin.*blocks"):
        parse_params({"backbones": {"nin": {"blocks": 2}}})


def test_unknown_dataset_lookup_lists_defined_ones():
    with pytest.raises(RotnetError, match="unknown dataset 'svhn'; params.yaml defines: cifar10"):
        parse_params({}).dataset("svhn")


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(RotnetError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(RotnetError, match="not valid YAML"):
        load_params(bad)
    ok = tmp_path / "ok.yaml"
    ok.write_text(yaml.safe_dump({"seed": 3}))
    assert load_params(ok).seed == 3


def test_one_architecture_under_two_names():
    from rotnet.models.registry import create_backbone

    p = parse_params(
        {
            "study": {"backbones": ["nin", "nin_wide"]},
            "backbones": {"nin_wide": {"arch": "nin", "width": 32}},
        }
    )
    model = create_backbone("nin_wide", 10, options=p.backbone_options("nin_wide"))
    assert model.feature_info[1].channels == 32
    with pytest.raises(RotnetError, match=r"unknown backbone 'vgg' \(backbones.x.arch\)"):
        parse_params({"study": {"backbones": ["x"]}, "backbones": {"x": {"arch": "vgg"}}})
    with pytest.raises(RotnetError, match=r"small_input.backbones names 'effnet_up'.*unknown backbone"):
        parse_params({"small_input": {"backbones": ["effnet_up"]}})


@pytest.mark.parametrize(
    "rotations,words",
    [
        ([0, 30], ["pretrain.rotations", "multiples of 45", "[30]"]),
        ([0, 360], ["pretrain.rotations", "[0, 360)", "[360]"]),
        ([0, 90, 90], ["pretrain.rotations", "unique", "[90]"]),
        ([90], ["pretrain.rotations", "at least 2"]),
        ([180, 0], ["pretrain.rotations", "increasing order", "[0, 180]"]),
    ],
)
def test_bad_rotation_sets_name_the_key_and_the_fix(rotations, words):
    with pytest.raises(RotnetError) as err:
        parse_params({"pretrain": {"rotations": rotations}})
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize("rotations", [[0, 90, 180, 270], [0, 180], [90, 270], list(range(0, 360, 45))])
def test_the_papers_rotation_sets_are_valid(rotations):
    assert parse_params({"pretrain": {"rotations": rotations}}).pretrain.rotations == rotations


def test_rotations_default_to_the_four_right_angles():
    assert parse_params({}).pretrain.rotations == [0, 90, 180, 270]
    assert load_params(ROOT / "params.yaml").pretrain.rotations == [0, 90, 180, 270]


def test_finetune_heads_are_one_list_for_every_backbone():
    with pytest.raises(RotnetError, match=r"backbones.nin.recipe.finetune.heads: finetune.heads is one list"):
        parse_params({"backbones": {"nin": {"recipe": {"finetune": {"heads": ["conv"]}}}}})
    whole = parse_params({"finetune": {"network": "whole", "heads": ["linear"]}})
    assert whole.finetune.heads == ["linear"]


@pytest.mark.parametrize("path", ["params.yaml", *sorted(p.name for p in (ROOT / "profiles").glob("*.yaml"))])
def test_params_files_hold_no_yaml_anchor_or_alias(path):
    """`dvc exp run -S` rewrites params.yaml without anchors: an override of a key that an
    alias shares is silently lost, so every backbone's recipe is spelled out."""
    file = ROOT / path if path == "params.yaml" else ROOT / "profiles" / path
    shared = [
        f"line {t.start_mark.line + 1}: {type(t).__name__} {t.value}"
        for t in yaml.scan(file.read_text(encoding="utf-8"))
        if isinstance(t, yaml.AnchorToken | yaml.AliasToken)
    ]
    assert shared == [], f"{path} shares values through YAML anchors; spell them out:\n" + "\n".join(shared)


def test_finetune_and_semisup_methods_must_be_pretrained_by_the_study():
    default = parse_params({})
    assert default.finetune.methods == default.semisup.methods == ["simclr", "byol"]  # every study.method
    with pytest.raises(RotnetError, match=r"finetune.methods names \['byol'\], which study.methods \(\['simclr'\]\)"):
        parse_params({"study": {"methods": ["simclr"]}})  # the default finetune.methods asks for byol too
    with pytest.raises(RotnetError, match=r"semisup.methods names \['simclr', 'byol'\], which study.methods \(\[\]\)"):
        parse_params({"study": {"methods": []}, "finetune": {"methods": []}})  # semisup's too: drop them there
    none = parse_params({"study": {"methods": []}, "finetune": {"methods": []}, "semisup": {"methods": []}})
    assert none.finetune.methods == none.semisup.methods == []
    with pytest.raises(RotnetError, match="lists a method twice"):
        parse_params({"finetune": {"methods": ["simclr", "simclr"]}})
    with pytest.raises(RotnetError, match="methods must not repeat"):
        parse_params({"semisup": {"methods": ["byol", "byol"]}})
    with pytest.raises(RotnetError, match=r"backbones.nin.recipe.finetune.methods: finetune.methods is one list"):
        parse_params({"backbones": {"nin": {"recipe": {"finetune": {"methods": ["simclr"]}}}}})


def test_semisup_backbones_must_be_pretrained_by_the_study():
    with pytest.raises(RotnetError, match=r"semisup.backbones names \['resnet18'\], which study.backbones"):
        parse_params({"study": {"backbones": ["nin"]}, "semisup": {"backbones": ["nin", "resnet18"]}})


@pytest.mark.parametrize(
    "path,value,words",
    [
        # An option of a study backbone that only its own training stages would build.
        ("backbones.efficientnet_b5.drop_path_rate", 1.5, ["study.backbones names 'efficientnet_b5'", "drop_path"]),
        ("backbones.resnet101.recipe.pretrain.schedule.warmup_epochs", 500, ["resnet101.recipe.pretrain", "warmup"]),
        ("semisup.backbones", ["nin", "resnet34"], ["semisup.backbones names ['resnet34']"]),
        ("robustness.corruptions", ["fog"], ["unknown corruptions ['fog']"]),
        ("finetune.heads", ["conv", "mlp"], ["finetune.heads"]),
        ("study.seeds", [0, 0], ["seeds must be distinct"]),
    ],
)
def test_a_param_any_later_stage_reads_fails_at_the_prepare_stages_params_load(
    tmp_path, monkeypatch, capsys, path, value, words
):
    """Every stage loads params.yaml through one validation, so prepare, the DAG's first
    stage, refuses a bad key that only a later stage reads, before it reads any data."""
    from rotnet.stages.prepare import main

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    *parents, key = path.split(".")
    node = raw
    for part in parents:
        node = node[part]
    node[key] = value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["--dataset", "cifar10"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and all(w in err for w in words), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # no data read or written
