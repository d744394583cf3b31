"""What `rotnet backbones` shows: each entry's options, params merged into the defaults."""

from pathlib import Path

import pytest

from rotnet.cli import main
from rotnet.errors import RotnetError
from rotnet.models.options import describe_options, effective_options
from rotnet.params import load_params

ROOT = Path(__file__).resolve().parents[2]


def test_effective_options_fill_in_the_defaults_and_mark_what_the_entry_sets():
    arch, options = effective_options("b0_up", {"arch": "efficientnet_b0", "small_input": "upsample", "recipe": {}})
    assert arch == "efficientnet_b0"
    assert ("small_input", "upsample", True) in options and ("head_init", "timm", False) in options
    assert "recipe" not in {key for key, _, _ in options} and "arch" not in {key for key, _, _ in options}
    with pytest.raises(RotnetError, match="backbones.nin"):
        effective_options("nin", {"width": 2})


def test_committed_efficientnets_show_params_values_not_the_code_defaults():
    params = load_params(ROOT / "params.yaml")
    lines = describe_options(params.backbones, params.backbone_lists()).splitlines()
    b5 = next(line for line in lines if line.startswith("efficientnet_b5 "))
    # params.yaml sets these, against the code's defaults head_init='timm', zero_init_last=False.
    assert "head_init='zero'*" in b5 and "zero_init_last=True*" in b5 and "drop_path_rate=0.2*" in b5
    assert "upsample_size=128," in b5  # a default: no mark
    assert "[study.backbones]" in b5 and b5.endswith("recipe: supervised, pretrain, finetune, supervised_rot")
    nin3 = next(line for line in lines if line.startswith("nin3 "))
    assert nin3.startswith("nin3 (nin) [study.baselines] [semisup.scratch_backbones]: blocks=3*")
    study = [line.split()[0] for line in lines[1:] if "[study.backbones]" in line]
    assert study == params.study.backbones  # the study's own, first and in its order


def test_an_architecture_without_an_entry_shows_its_defaults():
    lines = describe_options({"nin": {"width": 16}}, {"study.backbones": ["nin"]}).splitlines()
    assert lines[1] == "nin [study.backbones]: blocks=4, width=16*, init='kaiming'"
    assert "resnet50 (no params entry): width=64" in lines


def test_the_cli_prints_the_params_files_options(tmp_path, capsys):
    (tmp_path / "p.yaml").write_text(
        "study: {backbones: [resnet18]}\nsemisup: {backbones: [resnet18]}\nbackbones: {resnet18: {width: 16}}\n"
    )
    main(["backbones", "--params", str(tmp_path / "p.yaml")])
    assert "resnet18 [study.backbones]: width=16*" in capsys.readouterr().out.splitlines()
