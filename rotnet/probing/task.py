"""The probe's task: heads on the frozen feature maps of a backbone, all trained at once
from one backbone pass per batch (the engine trains it like any other task)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from rotnet.errors import RotnetError
from rotnet.models.base import Backbone
from rotnet.params import ProbeParams
from rotnet.probing.heads import build_head
from rotnet.training.optim import ParamGroup
from rotnet.training.tasks import Task, copy_state


class ProbeHeads(nn.Module):
    """Every probe head, run as one module so DDP can synchronise them together."""

    def __init__(self, heads: dict[str, nn.Module], layers: dict[str, str]) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({k.replace("/", "-"): h for k, h in heads.items()})
        self.layers = layers  # output name -> feature map name

    def head(self, output: str) -> nn.Module:
        return self.heads[output.replace("/", "-")]

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {out: self.head(out)(feats[layer]) for out, layer in self.layers.items()}


class ProbeTask(Task):
    """Heads on the frozen feature maps of a backbone, all fed by one backbone pass.

    The backbone stays in eval mode (BN statistics frozen) with gradients off; every
    head is an independent classifier, so summing their losses trains each as if alone.
    """

    def __init__(
        self,
        backbone: Backbone,
        heads: dict[str, nn.Module],
        layers: dict[str, str],
        num_classes: int,
        milestones: dict[str, Sequence[int]] | None = None,
    ):
        super().__init__(backbone)
        # Each output's own step milestones, if it has any (probe.head_milestones).
        self.milestones = {o: tuple(m) for o, m in (milestones or {}).items()}
        self.heads = ProbeHeads(heads, layers)
        self.run = self.heads
        self.layers = layers
        self.num_classes = num_classes
        names = backbone.feature_names
        self.deepest = max(layers.values(), key=names.index)
        backbone.requires_grad_(False)
        self.features: Callable = backbone.forward_intermediates

    @property
    def outputs(self) -> list[str]:
        return list(self.layers)

    def trainable_module(self) -> nn.Module:
        return self.heads

    def param_groups(self) -> list[ParamGroup]:
        return [ParamGroup(self.head(o), milestones=self.milestones.get(o)) for o in self.layers]

    def modules(self) -> list[nn.Module]:
        return [self.model, self.heads]

    def train(self) -> None:
        self.model.eval()
        self.heads.train()

    def eval(self) -> None:
        self.model.eval()
        self.heads.eval()

    def compile(self) -> None:
        super().compile()
        self.compiled_features = torch.compile(self.model.forward_intermediates)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        features = self.compiled_features if self.compiled is not None and self.run.training else self.features
        with torch.no_grad():
            feats = features(x, upto=self.deepest)
        return self.net(feats), y

    def head(self, output: str) -> nn.Module:
        return self.heads.head(output)

    def snapshot(self, output: str) -> dict[str, torch.Tensor]:
        return copy_state(self.head(output))

    def restore(self, output: str, state: dict[str, torch.Tensor]) -> None:
        self.head(output).load_state_dict(state)


def probe_heads(
    model: Backbone, cfg: ProbeParams, in_chans: int, image_hw: tuple[int, int], classes: int, backbone: str
) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """Every head of ``cfg`` on every named map of ``model``: heads and their maps, by output
    name (``<map>/<kind>``)."""
    # One dry pass tells each head the size of the map it reads.
    with torch.no_grad():
        maps = model.eval().forward_intermediates(torch.zeros(2, in_chans, *image_hw))
    heads, layers = {}, {}
    for layer in model.feature_names:
        for kind in cfg.heads:
            if kind == "conv" and layer not in cfg.conv_layers:
                continue
            out = f"{layer}/{kind}"
            heads[out] = build_head(kind, maps[layer].shape[1:], classes, cfg.hidden)
            layers[out] = layer
    if not heads:
        raise RotnetError(
            f"probe: no head to train on {backbone} (heads {cfg.heads}, conv_layers {cfg.conv_layers}); add "
            f"'nonlinear' or 'linear' to probe.heads, or one of {model.feature_names} to probe.conv_layers"
        )
    return heads, layers


def probe_task(
    heads: dict[str, nn.Module], layers: dict[str, str], model: Backbone, cfg: ProbeParams, classes: int
) -> ProbeTask:
    """The task training every head at once, each with its kind's milestones."""
    kinds = {o: o.split("/")[1] for o in heads}
    milestones = {o: cfg.head_milestones[k] for o, k in kinds.items() if k in cfg.head_milestones}
    return ProbeTask(model, heads, layers, classes, milestones)
