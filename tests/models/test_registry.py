"""Build by name (rotnet.models.registry): every architecture has options and a builder; unknown names listed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rotnet.errors import RotnetError
from rotnet.models.options import ARCHS, EfficientNetOptions, NinOptions, ResNetOptions, validate_backbone_options
from rotnet.models.registry import BUILDERS, create_backbone, list_backbones
from tests.conftest import REPO_ROOT


def test_every_architecture_has_options_and_a_builder():
    from rotnet.models import efficientnet, resnet

    assert set(BUILDERS) == set(ARCHS)
    # The timm families are imported lazily: their own tables must cover every name.
    assert set(ARCHS) == {"nin"} | set(resnet.BUILDERS) | set(efficientnet.BUILDERS)
    assert list_backbones() == sorted(ARCHS)
    assert ARCHS["nin"] is NinOptions
    assert {ARCHS[f"resnet{d}"] for d in (18, 34, 50, 101, 152)} == {ResNetOptions}
    assert {ARCHS[f"efficientnet_b{i}"] for i in range(8)} == {EfficientNetOptions}


def test_an_entry_can_name_its_architecture():
    model = create_backbone("nin_small", 4, options={"arch": "nin", "width": 16})
    assert type(model).__name__ == "NIN" and model.feature_info[0].channels == 8
    opts = validate_backbone_options("b0_up", {"arch": "efficientnet_b0", "small_input": "upsample"})
    assert opts == EfficientNetOptions(small_input="upsample")
    with pytest.raises(RotnetError, match=r"unknown backbone 'vgg' \(backbones.x.arch\); valid backbones: "):
        validate_backbone_options("x", {"arch": "vgg"})


def test_a_nin_stage_starts_without_importing_timm():

    code = "import sys; import rotnet.stages.probe, rotnet.stages.finetune; print('timm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "False"


def test_unknown_backbone_lists_the_valid_names():
    with pytest.raises(RotnetError, match="unknown backbone 'vgg'.*nin.*resnet18"):
        create_backbone("vgg", 10)
