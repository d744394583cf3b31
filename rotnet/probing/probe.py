"""Probe every feature map of a RotNet-pretrained backbone with every head kind."""

from __future__ import annotations

from typing import Any

import torch

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.params import Params
from rotnet.probing.heads import build_head
from rotnet.training.checkpoint import build_from_checkpoint, file_sha256, load_checkpoint
from rotnet.training.stage import StageContext
from rotnet.training.tasks import ProbeTask


def run_probe(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    ctx = StageContext.open(params, "probe", dataset, backbone)
    pretrained = paths.model_dir("pretrain", dataset, backbone) / "model.pt"
    ckpt = load_checkpoint(pretrained, kind="pretrain")
    if ckpt["backbone"] != backbone:
        raise RotnetError(f"the pretrained model for {dataset}/{backbone} holds a '{ckpt['backbone']}'; rerun pretrain")
    model = build_from_checkpoint(ckpt)
    classes = ctx.prepared.num_classes
    cfg = params.probe
    # One dry pass tells each head the size of the flattened map it reads.
    h, w = ctx.prepared.train.images.shape[1:3]
    with torch.no_grad():
        shapes = {k: v.shape[1:] for k, v in model.eval().forward_features(torch.zeros(2, ctx.in_chans, h, w)).items()}
    heads, layers = {}, {}
    for layer in model.feature_names:
        for kind in cfg.heads:
            if kind == "conv" and layer not in cfg.conv_layers:
                continue
            out = f"{layer}/{kind}"
            heads[out] = build_head(kind, torch.Size(shapes[layer]), classes, cfg.hidden)
            layers[out] = layer
    if not heads:
        raise RotnetError(
            f"probe: no head to train on {backbone} (heads {cfg.heads}, conv_layers {cfg.conv_layers}); "
            f"add 'nonlinear' or 'linear' to probe.heads, or one of {model.feature_names} to probe.conv_layers"
        )
    result = ctx.fit(ProbeTask(model, heads, layers, classes), cfg, pretrained=file_sha256(pretrained))
    ctx.save(
        paths.model_dir("probe", dataset, backbone) / "heads.pt",
        {
            "kind": "probe",
            "backbone": backbone,
            "heads": {o: {k: v.cpu() for k, v in h.state_dict().items()} for o, h in heads.items()},
            "layers": layers,
            "class_names": ctx.prepared.class_names,
        },
    )
    per_layer: dict[str, dict[str, Any]] = {}
    for out, res in result.outputs.items():
        layer, kind = out.split("/")
        per_layer.setdefault(layer, {})[kind] = {
            "val_acc": round(res.val_acc, 2),
            "test_acc": round(res.test_acc, 2),
            "best_epoch": res.best_epoch,
        }
    # The best probe is chosen on validation accuracy; its test accuracy is reported as is.
    best_out = max(result.outputs, key=lambda o: result.outputs[o].val_acc)
    best = result.outputs[best_out]
    metrics = {
        "best": {
            "layer": layers[best_out],
            "head": best_out.split("/")[1],
            "val_acc": round(best.val_acc, 2),
            "test_acc": round(best.test_acc, 2),
        },
        "layers": per_layer,
        **ctx.common_metrics(result, cfg),
    }
    ctx.write_metrics(metrics)
    ctx.close()
    return metrics
