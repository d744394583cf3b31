import pytest
import torch

from rotnet.errors import RotnetError
from rotnet.models import create_backbone, list_backbones

SMALL = {"nin": {"width": 16}, "resnet18": {"width": 8}}


@pytest.mark.parametrize("name", list_backbones())
@pytest.mark.parametrize("in_chans,size", [(3, 32), (1, 28)])
def test_every_backbone_follows_the_contract(name, in_chans, size):
    model = create_backbone(name, num_classes=7, in_chans=in_chans, options=SMALL.get(name)).eval()
    x = torch.randn(2, in_chans, size, size)
    feats = model.forward_features(x)
    assert list(feats) == model.feature_names
    for info in model.feature_info:
        f = feats[info.name]
        assert f.shape[:2] == (2, info.channels), info
        assert f.shape[2] == -(-size // info.stride), info  # ceil: padded convs and pools
    assert model(x).shape == (2, 7)
    # Stopping early returns the same maps up to that block.
    first = model.feature_names[0]
    early = model.forward_features(x, upto=first)
    assert list(early) == [first]
    assert torch.allclose(early[first], feats[first])


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
