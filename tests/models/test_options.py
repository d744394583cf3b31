"""Typed backbone options (rotnet.models.options): bad options are named with the fix, before torch
loads; what `rotnet backbones` shows: each entry's options, params merged into the defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rotnet.cli import main
from rotnet.errors import RotnetError
from rotnet.models.options import (
    NinOptions,
    arch_names,
    describe_options,
    effective_options,
    resolve_arch,
    validate_backbone_options,
)
from rotnet.models.registry import create_backbone
from rotnet.params import load_params
from tests.conftest import REPO_ROOT

ROOT = REPO_ROOT


def test_bad_backbone_option_names_the_option():
    with pytest.raises(RotnetError, match="blocks"):
        create_backbone("nin", 10, options={"blocks": 9})
    with pytest.raises(RotnetError, match="depth"):
        create_backbone("resnet18", 10, options={"depth": 3})


def test_efficientnet_options_are_checked():
    with pytest.raises(RotnetError, match="small_input"):
        create_backbone("efficientnet_b0", 10, options={"small_input": "crop"})
    with pytest.raises(RotnetError, match="upsample_size.*power of two"):
        create_backbone("efficientnet_b0", 10, options={"upsample_size": 96})
    with pytest.raises(RotnetError, match="upsample_size"):
        create_backbone("efficientnet_b0", 10, options={"upsample_size": 16})
    with pytest.raises(RotnetError, match="width"):
        create_backbone("efficientnet_b2", 10, options={"width": 8})


def test_validating_params_loads_neither_torch_nor_timm():
    code = (
        "import sys, rotnet.params, rotnet.models.options as o\n"
        "rotnet.params.parse_params({})\n"
        "o.validate_backbone_options('e', {'arch': 'efficientnet_b0', 'small_input': 'upsample'})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'timm', 'rotnet'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["['rotnet']"]


def test_option_errors_name_the_source_and_the_valid_options():
    with pytest.raises(RotnetError) as err:
        validate_backbone_options("nin", {"width": 2}, source="my.yaml")
    assert "invalid options for backbone 'nin' in my.yaml (backbones.nin): width:" in str(err.value)
    assert str(err.value).endswith("Valid options: arch, blocks, width, init")


def test_an_entry_names_its_architecture_or_is_one():
    given = {"arch": "efficientnet_b0", "width_multiplier": 0.5}
    assert resolve_arch("b0_half", given) == ("efficientnet_b0", {"width_multiplier": 0.5})
    assert given["arch"] == "efficientnet_b0"  # the params entry itself is left as it was
    assert resolve_arch("nin", None) == ("nin", {})
    assert validate_backbone_options("nin", {}) == NinOptions()  # the defaults
    assert arch_names() == sorted(arch_names()) and "resnet152" in arch_names()


@pytest.mark.parametrize("size,ok", [(32, True), (64, True), (1024, True), (48, False), (96, False), (2048, False)])
def test_upsample_size_is_32_times_a_power_of_two(size, ok):
    options = {"small_input": "upsample", "upsample_size": size}
    if ok:
        assert validate_backbone_options("efficientnet_b0", options).upsample_size == size
    else:
        with pytest.raises(RotnetError, match="upsample_size"):
            validate_backbone_options("efficientnet_b0", options)


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
