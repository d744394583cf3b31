"""The ResNets (rotnet.models.resnet): the CIFAR stem and the zoo's depths."""

from __future__ import annotations

import torch

from rotnet.models.registry import create_backbone


def test_resnet18_has_the_cifar_stem():
    model = create_backbone("resnet18", 10)
    assert model.stem[0].kernel_size == (3, 3) and model.stem[0].stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert [f.channels for f in model.feature_info] == [64, 128, 256, 512]


def test_resnet_zoo_layouts():
    def blocks(name: str) -> list[int]:
        return [len(stage) for stage in create_backbone(name, 10, options={"width": 4}).stages.values()]

    assert blocks("resnet18") == [2, 2, 2, 2]
    assert blocks("resnet34") == [3, 4, 6, 3]
    assert blocks("resnet50") == [3, 4, 6, 3]
    assert blocks("resnet101") == [3, 4, 23, 3]
    assert blocks("resnet152") == [3, 8, 36, 3]
    model = create_backbone("resnet50", 10)
    assert [(f.channels, f.stride) for f in model.feature_info] == [(256, 1), (512, 2), (1024, 4), (2048, 8)]
    assert type(model.stages["layer1"][0]).__name__ == "Bottleneck"
    assert [f.channels for f in create_backbone("resnet34", 10).feature_info] == [64, 128, 256, 512]
