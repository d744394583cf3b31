"""Typed backbone options (rotnet.models.options): bad options are named with the fix, before torch loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rotnet.errors import RotnetError
from rotnet.models.options import NinOptions, arch_names, resolve_arch, validate_backbone_options
from rotnet.models.registry import create_backbone
from tests.conftest import REPO_ROOT


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
