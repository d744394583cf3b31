"""small_input@<dataset>: how should a backbone built for large images see 32x32 ones?

Each configured choice (e.g. EfficientNet-B0 with its strides lowered vs its input
upsampled) is trained briefly with labels on a class-balanced subset, and its accuracy
and training speed are recorded side by side. Each choice is one resumable fit.

Reads data/prepared/<dataset>. Writes models/<dataset>/small_input/run.json and
metrics/runs/<dataset>/small_input.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rotnet.data.prepared import PreparedDataset
from rotnet.data.split import stratified_split, take
from rotnet.models.options import resolve_arch
from rotnet.params import Params
from rotnet.progress import log
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training import results
from rotnet.training.context import StageRun
from rotnet.training.tasks import SupervisedTask

SPEC = BY_NAME["small_input"]


def subset(data: PreparedDataset, n: int | None, seed: int) -> PreparedDataset:
    """A class-balanced subset of ``n`` training images (all of them for None)."""
    if n is None or n >= len(data.train.labels):
        return data
    _, keep = stratified_split(data.train.labels, n, seed)
    return PreparedDataset(data.name, take(data.train, keep), data.val, data.test, data.meta)


def run(params: Params, dataset: str) -> dict[str, Any]:
    cfg = params.small_input
    with StageRun(params, SPEC.name, dataset) as stage:
        env = stage.env
        for _ in stage.each_seed():
            train = subset(env.prepared, cfg.train_images, params.seed)
            data = env.device_data(train)
            classes = train.num_classes
            choices: dict[str, dict[str, Any]] = {}
            details: dict[str, dict[str, Any]] = {}
            for name in cfg.backbones:
                env.reseed()
                arch, opts = resolve_arch(name, params.backbone_options(name))
                model = env.new_backbone(classes, name)
                result = stage.fit(
                    SupervisedTask(model, classes),
                    params.recipe("small_input", name),
                    part=name,
                    data=data,
                    history=False,
                    desc=f"small_input@{name}",
                    backbone=name,
                    backbone_options=params.backbone_options(name),
                )
                out = result.outputs[SupervisedTask.output]
                choices[name] = {"val_acc": round(out.val_acc, 2), "test_acc": round(out.test_acc, 2)}
                details[name] = {
                    "arch": arch,
                    "options": opts,
                    **choices[name],
                    "best_epoch": out.best_epoch,
                    "images_per_s": round(result.images_per_s, 1),
                    "wall_time_s": round(result.wall_time_s, 2),
                    "parameters": sum(p.numel() for p in model.parameters()),
                }
                log(f"small_input@{name}: test {out.test_acc:.2f}%, {result.images_per_s:.0f} images/s")
                del model
                if env.device.type == "cuda":
                    torch.cuda.empty_cache()
            metrics = {"choices": choices}
            record = {**results.run_details(env, cfg), "train_images": len(train.train.labels), "choices": details}
            stage.write_results(metrics, record)
    return stage.metrics


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
