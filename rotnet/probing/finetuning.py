"""Fine-tuning a pretrained backbone with a fresh head on the labels, as the finetune stage
(the RotNet) and the ssl_finetune stage (SimCLR, BYOL) both do: one run per head of
``finetune.heads``, the same recipe (``finetune``, with the backbone's recipe merged in) and
the same network (``finetune.network``; rotnet/stages/finetune.py says what each is).
"""

from __future__ import annotations

from typing import Any

import torch

from rotnet.errors import RotnetError
from rotnet.models.base import Backbone
from rotnet.models.heads import with_head
from rotnet.models.saved import build_model, file_sha256
from rotnet.params import FinetuneParams, Params
from rotnet.probing.heads import conv_head_layer, map_shape
from rotnet.training import results
from rotnet.training.context import StageRun
from rotnet.training.tasks import FinetuneTask


def load_pretrained_body(model: Backbone, state: dict[str, torch.Tensor], upstream: str = "pretrain") -> list[str]:
    """Copy every pretrained weight except the classifier's; return the names copied.
    ``upstream``: the stage that wrote ``state``, named in the errors."""
    head = next(name for name, module in model.named_modules() if module is model.get_classifier())
    own = model.state_dict()
    skip = {k for k in own if k.startswith(f"{head}.")}
    body = {k: v for k, v in state.items() if k in own and k not in skip}
    missing = sorted(set(own) - skip - set(body))
    if missing:
        raise RotnetError(
            f"the pretrained model lacks {len(missing)} weights of this backbone (e.g. {missing[:3]}); "
            f"its backbone options differ from params.yaml: rerun the {upstream} stage"
        )
    mismatched = [k for k in body if body[k].shape != own[k].shape]
    if mismatched:
        raise RotnetError(f"pretrained weights {mismatched[:3]} have other shapes; rerun the {upstream} stage")
    model.load_state_dict(body, strict=False)
    return sorted(body)


def finetune_heads(params: Params, backbone: str, head: str | None) -> tuple[FinetuneParams, list[str]]:
    """The finetune recipe for ``backbone`` and the heads to run: ``head`` (dvc.yaml runs an
    instance per head of finetune.heads), or each of them in turn when it is None."""
    cfg = params.recipe("finetune", backbone)
    if head is not None and head not in cfg.heads:
        raise RotnetError(f"--head {head} is not one of finetune.heads {cfg.heads}; add it there or pick one of them")
    return cfg, [head] if head else list(cfg.heads)


def finetune_pretrained(
    params: Params,
    cfg: FinetuneParams,
    stage_name: str,
    dataset: str,
    backbone: str,
    head: str,
    *,
    upstream: str,
    init: str,
    variant: str,
    desc: str,
    **details: Any,
) -> dict[str, Any]:
    """Fine-tune the model file of stage kind ``upstream`` (``pretrain``, ``ssl_pretrain/simclr``, ...)
    with ``head``, run as stage ``stage_name`` per ``variant``; the saved model's ``init`` says
    which pretraining it started from, ``details`` go into the run record. Returns the metrics."""
    with StageRun(params, stage_name, dataset, backbone, variant=variant) as stage:
        env, outputs = stage.env, stage.outputs
        rerun = upstream.split("/")[0]
        for _ in stage.each_seed():
            ckpt, pretrained = env.upstream_model(upstream)
            classes = env.prepared.num_classes
            cut: dict[str, Any] | None = None
            if cfg.network == "whole":  # heads is [linear]: the backbone's own classifier (FinetuneParams)
                model = env.new_backbone(classes)  # then every weight but the fresh classifier's is replaced
                copied = load_pretrained_body(model, ckpt["state_dict"], rerun)
                network = f"whole {backbone} + fresh linear classifier"
            else:
                body = build_model(ckpt)
                layer = conv_head_layer(params.probe.conv_layers, body.feature_names)
                shape = map_shape(body, layer, env.in_chans, tuple(env.prepared.train.images.shape[1:3]))
                model = with_head(body, layer, head, classes, shape, cfg.hidden)
                copied = [k for k in model.state_dict() if not k.startswith("head.")]
                cut = {"layer": layer, "head": head, "hidden": cfg.hidden, "map_shape": list(shape)}
                network = f"{backbone} up to {layer} + fresh {head} head"
            task = FinetuneTask(model, classes, cfg.backbone_lr_scale)  # type: ignore[arg-type]
            result = stage.fit(task, cfg, pretrained=file_sha256(pretrained), desc=desc)
            out = result.outputs[FinetuneTask.output]
            outputs.save_model(model, classes, best_epoch=out.best_epoch, init=init, cut=cut)  # type: ignore[arg-type]
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
                **details,
            )
            stage.write_results(metrics, record)
    return stage.metrics
