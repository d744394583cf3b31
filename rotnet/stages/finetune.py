"""finetune@<dataset>-<backbone>-<head>: start from the RotNet weights, put a fresh head
on top and train them on the labels; one stage instance per head of ``finetune.heads``.

``finetune.network: paper`` is the paper's setting (its 92.17 with the conv head, 91.73
with the non-linear one): the RotNet up to the map the conv head reads (block 2 for NIN)
plus the fresh head there, every weight trained. ``whole`` trains the whole network under
a fresh linear classifier (heads: [linear]), as most SSL libraries fine-tune. The recipe
(the ``finetune`` section) is this project's own: no official config exists for fine-tuning.

Reads data/prepared/<dataset> and models/<dataset>/<backbone>/pretrain/model.pt. Writes
models/<dataset>/<backbone>/finetune/<head>/{model.pt,run.json},
metrics/runs/<dataset>/<backbone>/finetune/<head>{.json,_history.csv} and logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rotnet.errors import RotnetError
from rotnet.models.base import Backbone
from rotnet.models.heads import with_head
from rotnet.models.saved import build_model, file_sha256
from rotnet.params import FinetuneParams, Params
from rotnet.probing.heads import conv_head_layer, map_shape
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training import results
from rotnet.training.context import StageRun
from rotnet.training.tasks import FinetuneTask

SPEC = BY_NAME["finetune"]


def load_pretrained_body(model: Backbone, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy every pretrained weight except the classifier's; return the names copied."""
    head = next(name for name, module in model.named_modules() if module is model.get_classifier())
    own = model.state_dict()
    skip = {k for k in own if k.startswith(f"{head}.")}
    body = {k: v for k, v in state.items() if k in own and k not in skip}
    missing = sorted(set(own) - skip - set(body))
    if missing:
        raise RotnetError(
            f"the pretrained model lacks {len(missing)} weights of this backbone (e.g. {missing[:3]}); "
            "its backbone options differ from params.yaml: rerun the pretrain stage"
        )
    mismatched = [k for k in body if body[k].shape != own[k].shape]
    if mismatched:
        raise RotnetError(f"pretrained weights {mismatched[:3]} have other shapes; rerun the pretrain stage")
    model.load_state_dict(body, strict=False)
    return sorted(body)


def run(params: Params, dataset: str, backbone: str, head: str | None = None) -> dict[str, dict[str, Any]]:
    """Fine-tune with one head of finetune.heads (dvc.yaml runs an instance per head), or
    with each in turn when ``head`` is None; returns each head's metrics."""
    cfg = params.recipe("finetune", backbone)
    if head is not None and head not in cfg.heads:
        raise RotnetError(f"--head {head} is not one of finetune.heads {cfg.heads}; add it there or pick one of them")
    return {h: run_head(params, cfg, dataset, backbone, h) for h in ([head] if head else cfg.heads)}


def run_head(params: Params, cfg: FinetuneParams, dataset: str, backbone: str, head: str) -> dict[str, Any]:
    with StageRun(params, SPEC.name, dataset, backbone, variant=head) as stage:
        env, outputs = stage.env, stage.outputs
        for _ in stage.each_seed():
            ckpt, pretrained = env.upstream_model("pretrain")
            classes = env.prepared.num_classes
            cut: dict[str, Any] | None = None
            if cfg.network == "whole":  # heads is [linear]: the backbone's own classifier (FinetuneParams)
                model = env.new_backbone(classes)  # then every weight but the fresh classifier's is replaced
                copied = load_pretrained_body(model, ckpt["state_dict"])
                network = f"whole {backbone} + fresh linear classifier"
            else:
                rotnet = build_model(ckpt)
                layer = conv_head_layer(params.probe.conv_layers, rotnet.feature_names)
                shape = map_shape(rotnet, layer, env.in_chans, tuple(env.prepared.train.images.shape[1:3]))
                model = with_head(rotnet, layer, head, classes, shape, cfg.hidden)
                copied = [k for k in model.state_dict() if not k.startswith("head.")]
                cut = {"layer": layer, "head": head, "hidden": cfg.hidden, "map_shape": list(shape)}
                network = f"{backbone} up to {layer} + fresh {head} head"
            task = FinetuneTask(model, classes, cfg.backbone_lr_scale)  # type: ignore[arg-type]
            result = stage.fit(task, cfg, pretrained=file_sha256(pretrained), desc=f"finetune {head}@{backbone}")
            out = result.outputs[FinetuneTask.output]
            outputs.save_model(model, classes, best_epoch=out.best_epoch, init="rotnet-pretrain", cut=cut)  # type: ignore[arg-type]
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            metrics, record = results.classifier_results(
                env,
                out,
                result,
                cfg,
                network=network,
                setting=cfg.network,
                layer=cut["layer"] if cut else "",
                head=head,
                trainable_parameters=trainable,
                pretrained_tensors=len(copied),
            )
            stage.write_results(metrics, record)
    return stage.metrics


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
