"""How should a backbone built for large images see 32x32 ones? Train each configured
choice (e.g. EfficientNet-B0 with strides lowered vs input upsampled) briefly with labels
and record accuracy and training speed side by side."""

from __future__ import annotations

import time
from typing import Any

import torch

from rotnet import paths
from rotnet.atomic import write_json
from rotnet.data.device import DeviceDataset
from rotnet.data.prepared import PreparedDataset, load_prepared
from rotnet.data.split import stratified_split, take
from rotnet.models.registry import create_backbone, resolve_arch
from rotnet.params import Params
from rotnet.progress import log
from rotnet.training.engine import Engine
from rotnet.training.runtime import describe_device, resolve_device, seed_everything, setup_threads
from rotnet.training.stage import recipe
from rotnet.training.tasks import SupervisedTask


def _subset(data: PreparedDataset, n: int | None, seed: int) -> PreparedDataset:
    if n is None or n >= len(data.train.labels):
        return data
    _, keep = stratified_split(data.train.labels, n, seed)  # a class-balanced subset of n images
    return PreparedDataset(data.name, take(data.train, keep), data.val, data.test, data.meta)


def run_small_input(params: Params, dataset: str) -> dict[str, Any]:
    cfg = params.small_input
    params.dataset(dataset)
    setup_threads(params.runtime)
    device = resolve_device(params.runtime)
    data = _subset(load_prepared(paths.prepared_dir(dataset)), cfg.train_images, params.seed)
    gpu_data = DeviceDataset.from_prepared(data, device)
    engine = Engine(gpu_data, params.runtime, device)
    choices: dict[str, Any] = {}
    for name in cfg.backbones:
        seed_everything(params.seed)
        options = params.backbone_options(name)
        arch, opts = resolve_arch(name, options)
        model = create_backbone(name, data.num_classes, int(data.train.images.shape[-1]), options)
        start = time.monotonic()
        result = engine.fit(SupervisedTask(model, data.num_classes), cfg, params.seed + 1, f"small_input@{name}")
        out = result.outputs[SupervisedTask.output]
        choices[name] = {
            "arch": arch,
            "options": opts,
            "val_acc": round(out.val_acc, 2),
            "test_acc": round(out.test_acc, 2),
            "best_epoch": out.best_epoch,
            "images_per_s": round(result.images_per_s, 1),
            "wall_time_s": round(time.monotonic() - start, 2),
            "parameters": sum(p.numel() for p in model.parameters()),
        }
        log(f"small_input@{name}: test {out.test_acc:.2f}%, {result.images_per_s:.0f} images/s")
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    metrics = {
        "dataset": dataset,
        "data": data.meta.get("description", dataset),
        "train_images": len(data.train.labels),
        "epochs": cfg.epochs,
        "recipe": recipe(cfg),
        "device": describe_device(device),
        "choices": choices,
    }
    write_json(paths.small_input_file(dataset), metrics)
    return metrics
