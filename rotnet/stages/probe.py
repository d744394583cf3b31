"""probe@<dataset>-<backbone>: train heads on every frozen feature map of the RotNet.

Every head kind in probe.heads (the paper's non-linear head, a linear head, and the
paper's conv head on probe.conv_layers) on every named map of the pretrained backbone,
all fed by one frozen backbone pass per batch. The best layer and head are chosen on
validation; the test split is read once.

Reads data/prepared/<dataset> and models/<dataset>/<backbone>/pretrain/model.pt. Writes
models/<dataset>/<backbone>/probe/{heads.pt,run.json},
metrics/runs/<dataset>/<backbone>/probe{.json,_history.csv} and logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.models.saved import build_model, file_sha256, load_model_file
from rotnet.params import Params
from rotnet.probing.heads import build_head
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training.context import StageRun
from rotnet.training.tasks import ProbeTask

SPEC = BY_NAME["probe"]


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    cfg = params.probe
    pretrained = paths.model_file("pretrain", dataset, backbone)
    with StageRun(params, SPEC.name, dataset, backbone) as stage:
        ckpt = load_model_file(pretrained, kind="pretrain")
        if ckpt["backbone"] != backbone:
            raise RotnetError(
                f"the pretrained model for {dataset}/{backbone} holds a '{ckpt['backbone']}'; rerun pretrain"
            )
        model = build_model(ckpt)
        classes = stage.prepared.num_classes

        # One dry pass tells each head the size of the map it reads.
        h, w = stage.prepared.train.images.shape[1:3]
        with torch.no_grad():
            maps = model.eval().forward_intermediates(torch.zeros(2, stage.in_chans, h, w))
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

        result = stage.fit(ProbeTask(model, heads, layers, classes), cfg, pretrained=file_sha256(pretrained))
        stage.save(
            paths.probe_heads_file(dataset, backbone),
            {
                "kind": "probe",
                "backbone": backbone,
                "heads": {o: {k: v.cpu() for k, v in h.state_dict().items()} for o, h in heads.items()},
                "layers": layers,
                "class_names": stage.prepared.class_names,
            },
        )
        per_layer: dict[str, dict[str, Any]] = {}
        best_epochs: dict[str, dict[str, int]] = {}
        for out, res in result.outputs.items():
            layer, kind = out.split("/")
            per_layer.setdefault(layer, {})[kind] = {
                "val_acc": round(res.val_acc, 2),
                "test_acc": round(res.test_acc, 2),
            }
            best_epochs.setdefault(layer, {})[kind] = res.best_epoch
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
            "images_per_s": round(result.images_per_s, 1),
        }
        record_layers = {
            layer: {kind: {**acc, "best_epoch": best_epochs[layer][kind]} for kind, acc in heads_acc.items()}
            for layer, heads_acc in per_layer.items()
        }
        record = {**metrics, "layers": record_layers, **stage.run_details(cfg, result)}
        stage.write_results(metrics, record)
    return metrics


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
