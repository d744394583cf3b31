"""Where probe heads go (rotnet.probing.heads): the conv head's map and the map's shape."""

import torch

from rotnet.models.registry import create_backbone
from rotnet.probing.heads import conv_head_layer, map_shape


def test_conv_head_goes_on_the_first_listed_map_the_backbone_has_else_its_last():
    assert conv_head_layer(["block2"], ["block1", "block2", "block3"]) == "block2"
    assert conv_head_layer(["block2", "layer3"], ["layer1", "layer2", "layer3", "layer4"]) == "layer3"
    assert conv_head_layer(["block2"], ["layer1", "layer4"]) == "layer4"


def test_map_shape_is_one_dry_pass_and_keeps_the_training_mode():
    net = create_backbone("nin", 4, options={"width": 16}).train()
    shape = map_shape(net, "block2", 3, (16, 12))
    assert shape == net.forward_intermediates(torch.zeros(1, 3, 16, 12), upto="block2")["block2"].shape[1:]
    assert shape[0] == 16 and net.training
