"""Where probe heads go on a backbone and the shape of the map they read (the head networks
themselves are rotnet.models.heads: model files rebuild them)."""

from __future__ import annotations

import torch

from rotnet.models.base import Backbone


def conv_head_layer(conv_layers: list[str], names: list[str]) -> str:
    """Where the paper's conv head goes on a backbone: the first of ``conv_layers`` it has
    (block 2 for NIN), else its last map."""
    return next((name for name in conv_layers if name in names), names[-1])


def map_shape(backbone: Backbone, layer: str, in_chans: int, size: tuple[int, int]) -> torch.Size:
    """(C, H, W) of map ``layer`` for inputs of ``size``, from one dry pass in eval mode."""
    was_training = backbone.training
    with torch.no_grad():
        out = backbone.eval().forward_intermediates(torch.zeros(2, in_chans, *size), upto=layer)[layer]
    backbone.train(was_training)
    return out.shape[1:]
