from collections.abc import Iterator

import pytest
import torch

from rotnet.errors import RotnetError
from rotnet.models import create_backbone, list_backbones

# Small options where a backbone has them, so the deep ones stay fast to build and run.
SMALL = {"nin": {"width": 16}} | {f"resnet{d}": {"width": 8} for d in (18, 34, 50, 101, 152)}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Batch-2 maps are tiny: a second intra-op thread only adds sync cost, which becomes
    # seconds per forward when the cores are shared with other jobs.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _module_calls(model: torch.nn.Module, run) -> int:
    """How many submodule forwards ``run()`` triggers: shows that work was skipped."""
    calls = 0

    def count(*_):
        nonlocal calls
        calls += 1

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return calls


# Every registered backbone, plus the non-default geometries of the EfficientNets.
CASES = [(name, SMALL.get(name)) for name in list_backbones()] + [
    ("efficientnet_b0", {"small_input": "upsample"}),
    ("efficientnet_b0", {"small_input": "upsample", "upsample_size": 64}),
]


@pytest.mark.parametrize(
    "name,options", CASES, ids=["-".join([n, *(f"{k}={v}" for k, v in (o or {}).items())]) for n, o in CASES]
)
@pytest.mark.parametrize("in_chans,size", [(3, 32), (1, 28)])
@torch.no_grad()
def test_every_backbone_follows_the_contract(name, options, in_chans, size):
    model = create_backbone(name, num_classes=7, in_chans=in_chans, options=options).eval()
    x = torch.randn(2, in_chans, size, size)
    feats = model.forward_features(x)
    assert list(feats) == model.feature_names
    for info in model.feature_info:
        f = feats[info.name]
        assert f.shape[:2] == (2, info.channels), info
        assert f.shape[2:] == (-(-size // info.stride),) * 2, info  # ceil: padded convs and pools
    assert model(x).shape == (2, 7)
    assert torch.allclose(model.forward_head(feats[model.feature_names[-1]]), model(x), atol=1e-5)
    # classifier() holds the class-specific weights (fine-tuning replaces it).
    assert {p.shape[0] for p in model.classifier().parameters()} == {7}
    # Stopping early returns the same maps up to that block, without running the later ones.
    first = model.feature_names[0]
    early = model.forward_features(x, upto=first)
    assert list(early) == [first]
    assert torch.allclose(early[first], feats[first])
    assert _module_calls(model, lambda: model.forward_features(x, upto=first)) < _module_calls(
        model, lambda: model.forward_features(x)
    )


def test_nin_paper_layout():
    model = create_backbone("nin", 10, options={"blocks": 4})
    assert [(f.name, f.channels, f.stride) for f in model.feature_info] == [
        ("block1", 96, 2),
        ("block2", 192, 4),
        ("block3", 192, 4),
        ("block4", 192, 4),
    ]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [5, 1, 1, 5, 1, 1, 3, 1, 1, 3, 1, 1]
    assert all(c.bias is None for c in convs)
    assert len(create_backbone("nin", 10, options={"blocks": 5}).feature_info) == 5


def test_resnet18_has_the_cifar_stem():
    model = create_backbone("resnet18", 10)
    assert model.stem[0].kernel_size == (3, 3) and model.stem[0].stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert [f.channels for f in model.feature_info] == [64, 128, 256, 512]


def test_unknown_backbone_lists_the_valid_names():
    with pytest.raises(RotnetError, match="unknown backbone 'vgg'.*nin.*resnet18"):
        create_backbone("vgg", 10)


def test_bad_backbone_option_names_the_option():
    with pytest.raises(RotnetError, match="blocks"):
        create_backbone("nin", 10, options={"blocks": 9})
    with pytest.raises(RotnetError, match="depth"):
        create_backbone("resnet18", 10, options={"depth": 3})


def test_resnet_zoo_layouts():
    def blocks(name: str) -> list[int]:
        return [len(stage) for stage in create_backbone(name, 10, options={"width": 4}).stages.values()]

    assert blocks("resnet34") == [3, 4, 6, 3]
    assert blocks("resnet50") == [3, 4, 6, 3]
    assert blocks("resnet101") == [3, 4, 23, 3]
    assert blocks("resnet152") == [3, 8, 36, 3]
    model = create_backbone("resnet50", 10)
    assert [(f.channels, f.stride) for f in model.feature_info] == [(256, 1), (512, 2), (1024, 4), (2048, 8)]
    assert type(model.stages["layer1"][0]).__name__ == "Bottleneck"
    assert [f.channels for f in create_backbone("resnet34", 10).feature_info] == [64, 128, 256, 512]


@torch.no_grad()
def test_efficientnet_small_input_modes_end_at_4x4():
    x = torch.randn(2, 3, 32, 32)
    strided = create_backbone("efficientnet_b0", 10).eval()
    # Stem and the first stride-2 stage at stride 1: 8x in total instead of 32x.
    assert strided.net.conv_stem.stride == (1, 1) and strided.net.blocks[1][0].conv_dw.stride == (1, 1)
    assert [(f.name, f.channels, f.stride) for f in strided.feature_info] == [
        ("stage1", 16, 1),
        ("stage2", 24, 1),
        ("stage3", 40, 2),
        ("stage4", 112, 4),
        ("stage5", 320, 8),
        ("head", 1280, 8),
    ]
    assert strided.forward_features(x)["head"].shape == (2, 1280, 4, 4)

    upsampled = create_backbone("efficientnet_b0", 10, options={"small_input": "upsample"}).eval()
    assert upsampled.net.conv_stem.stride == (2, 2)  # timm's native layout
    feats = upsampled.forward_features(x)
    # 32 -> 128 -> timm's 32x: 4x4. stage1 (64x64, stride 1/2 of the input) has no integer
    # stride and is not exposed.
    assert [(f.name, f.stride) for f in upsampled.feature_info] == [
        ("stage2", 1),
        ("stage3", 2),
        ("stage4", 4),
        ("stage5", 8),
        ("head", 8),
    ]
    assert feats["stage5"].shape == (2, 320, 4, 4) and feats["head"].shape == (2, 1280, 4, 4)
    # At 2x (64) stage1 is input-sized again and exposed; the head ends at 2x2 (stride 16).
    twice = create_backbone("efficientnet_b0", 10, options={"small_input": "upsample", "upsample_size": 64})
    assert [(f.name, f.stride) for f in twice.feature_info][::5] == [("stage1", 1), ("head", 16)]
    assert twice.eval().forward_features(x)["head"].shape == (2, 1280, 2, 2)


def test_efficientnet_is_timms_model():
    model = create_backbone("efficientnet_b0", 10, options={"drop_rate": 0.3, "drop_path_rate": 0.1})
    params = sum(p.numel() for p in model.parameters())
    assert 4.0e6 < params < 4.1e6, params  # timm's B0 with a 10-class head: 4,020,358
    assert model.net.drop_rate == 0.3
    assert create_backbone("efficientnet_b0", 10).net.drop_rate == 0.2
    assert any(type(m).__name__ == "DropPath" for m in model.modules())
    assert create_backbone("efficientnet_b3", 10).feature_info[-1].channels == 1536


def test_efficientnet_options_are_checked():
    with pytest.raises(RotnetError, match="small_input"):
        create_backbone("efficientnet_b0", 10, options={"small_input": "crop"})
    with pytest.raises(RotnetError, match="upsample_size.*power of two"):
        create_backbone("efficientnet_b0", 10, options={"upsample_size": 96})
    with pytest.raises(RotnetError, match="upsample_size"):
        create_backbone("efficientnet_b0", 10, options={"upsample_size": 16})
    with pytest.raises(RotnetError, match="width"):
        create_backbone("efficientnet_b2", 10, options={"width": 8})
