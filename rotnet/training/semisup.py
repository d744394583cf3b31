"""The paper's semi-supervised experiment (figure 5b): how accuracy grows with the
number of labelled images per class, trained from scratch vs starting from RotNet."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from rotnet import paths
from rotnet.atomic import write_json
from rotnet.data.device import DeviceDataset
from rotnet.data.prepared import PreparedDataset, load_prepared
from rotnet.data.split import first_per_class, take
from rotnet.errors import RotnetError
from rotnet.models.base import Backbone
from rotnet.models.registry import create_backbone
from rotnet.params import Params
from rotnet.probing.heads import conv_head
from rotnet.progress import log
from rotnet.training.checkpoint import build_from_checkpoint, load_checkpoint
from rotnet.training.engine import Engine
from rotnet.training.runtime import describe_device, resolve_device, seed_everything, setup_threads
from rotnet.training.stage import recipe
from rotnet.training.tasks import SupervisedTask


class FeaturesWithHead(nn.Module):
    """A backbone cut after ``layer`` with a head on that feature map, trained as one."""

    def __init__(self, backbone: Backbone, layer: str, head: nn.Module) -> None:
        super().__init__()
        self.backbone, self.layer, self.head = backbone, layer, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.forward_features(x, upto=self.layer)[self.layer])


def rotnet_with_conv_head(pretrained: Backbone, layer: str, num_classes: int) -> FeaturesWithHead:
    """The paper's setting: RotNet blocks up to ``layer`` plus a fresh conv head."""
    channels = next(f.channels for f in pretrained.feature_info if f.name == layer)
    return FeaturesWithHead(pretrained, layer, conv_head(channels, num_classes))


def _with_labels(data: PreparedDataset, per_class: int) -> PreparedDataset:
    keep = first_per_class(data.train.labels, per_class)
    return PreparedDataset(data.name, take(data.train, keep), data.val, data.test, data.meta)


def run_semisup(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    cfg = params.semisup
    params.dataset(dataset)
    setup_threads(params.runtime)
    device = resolve_device(params.runtime)
    full = load_prepared(paths.prepared_dir(dataset))
    classes, chans = full.num_classes, int(full.train.images.shape[-1])
    points = []
    if backbone not in params.study.backbones:
        raise RotnetError(f"semisup.backbones names '{backbone}', which study.backbones does not pretrain")
    ckpt = load_checkpoint(paths.model_dir("pretrain", dataset, backbone) / "model.pt", kind="pretrain")
    names = build_from_checkpoint(ckpt).feature_names
    # The conv head goes where the probes put it (block 2 for NIN), else on the last map.
    layer = next((name for name in params.probe.conv_layers if name in names), names[-1])
    for n in cfg.labels_per_class:
        data = _with_labels(full, n)
        engine = Engine(DeviceDataset.from_prepared(data, device), params.runtime, device)
        row: dict[str, Any] = {"backbone": backbone, "labels_per_class": n, "train_images": len(data.train.labels)}
        for init in ("scratch", "rotnet"):
            seed_everything(params.seed)
            if init == "scratch":
                model: nn.Module = create_backbone(backbone, classes, chans, params.backbone_options(backbone))
            else:
                model = rotnet_with_conv_head(build_from_checkpoint(ckpt), layer, classes)
            start = time.monotonic()
            result = engine.fit(SupervisedTask(model, classes), cfg, params.seed + 1, f"semisup@{backbone}-{n}-{init}")
            out = result.outputs[SupervisedTask.output]
            row[init] = {
                "val_acc": round(out.val_acc, 2),
                "test_acc": round(out.test_acc, 2),
                "best_epoch": out.best_epoch,
                "wall_time_s": round(time.monotonic() - start, 2),
            }
        log(
            f"semisup@{backbone} {n}/class: scratch {row['scratch']['test_acc']:.2f}%, "
            f"RotNet + conv head {row['rotnet']['test_acc']:.2f}%"
        )
        points.append(row)
    metrics = {
        "dataset": dataset,
        "data": full.meta.get("description", dataset),
        "epochs": cfg.epochs,
        "recipe": recipe(cfg),
        "device": describe_device(device),
        "points": points,
    }
    write_json(paths.semisup_file(dataset, backbone), metrics)
    return metrics
