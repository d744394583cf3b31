"""Fine-tuning: start from the RotNet weights, put a fresh classifier on top and train
the whole network on the labels (the paper's "fine-tuned" rows)."""

from __future__ import annotations

from typing import Any

import torch

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.models.base import Backbone
from rotnet.params import Params
from rotnet.training.checkpoint import file_sha256, load_checkpoint
from rotnet.training.optim import ParamGroup
from rotnet.training.stage import StageContext
from rotnet.training.supervised import per_class_accuracy
from rotnet.training.tasks import SupervisedTask


class FinetuneTask(SupervisedTask):
    output = "finetune"

    def __init__(self, model: Backbone, num_classes: int, backbone_lr_scale: float) -> None:
        super().__init__(model, num_classes)
        self.backbone_lr_scale = backbone_lr_scale

    def param_groups(self) -> list[ParamGroup]:
        # The fresh classifier learns at the full rate; the pretrained layers at the scaled one.
        return [ParamGroup(self.model.classifier()), ParamGroup(self.model, self.backbone_lr_scale)]


def load_pretrained_body(model: Backbone, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy every pretrained weight except the classifier's; return the names copied."""
    head = next(name for name, module in model.named_modules() if module is model.classifier())
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


def run_finetune(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    ctx = StageContext.open(params, "finetune", dataset, backbone)
    pretrained = paths.model_dir("pretrain", dataset, backbone) / "model.pt"
    ckpt = load_checkpoint(pretrained, kind="pretrain")
    if ckpt["backbone_options"] != params.backbone_options(backbone):
        raise RotnetError(
            f"the pretrained {backbone} was built with options {ckpt['backbone_options']}, params.yaml now says "
            f"{params.backbone_options(backbone)}; rerun the pretrain stage (dvc repro)"
        )
    classes = ctx.prepared.num_classes
    model = ctx.new_backbone(classes)
    copied = load_pretrained_body(model, ckpt["state_dict"])
    task = FinetuneTask(model, classes, params.finetune.backbone_lr_scale)
    result = ctx.fit(task, params.finetune, pretrained=file_sha256(pretrained))
    out = result.outputs[FinetuneTask.output]
    ctx.save_backbone(model.cpu(), classes, best_epoch=out.best_epoch, init="rotnet-pretrain")
    metrics = {
        "val_acc": round(out.val_acc, 2),
        "test_acc": round(out.test_acc, 2),
        "best_epoch": out.best_epoch,
        "pretrained_tensors": len(copied),
        **ctx.common_metrics(result, params.finetune),
        "per_class_test_acc": per_class_accuracy(out.test_confusion, ctx.prepared.class_names),
        "test_confusion": out.test_confusion,
    }
    ctx.write_metrics(metrics)
    ctx.close()
    return metrics
