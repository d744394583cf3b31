"""What every training stage does around the engine: load data onto the device, seed,
record history and logs, and write model and metrics files atomically."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rotnet import paths
from rotnet.atomic import write_json
from rotnet.data.device import DeviceDataset
from rotnet.data.prepared import PreparedDataset, load_prepared
from rotnet.models.base import Backbone
from rotnet.models.registry import create_backbone
from rotnet.params import Params, TrainParams
from rotnet.progress import log
from rotnet.training.checkpoint import model_state, save_checkpoint
from rotnet.training.distributed import World, close_world, init_world
from rotnet.training.engine import Checkpointing, Engine, FitResult
from rotnet.training.recorder import Recorder
from rotnet.training.runtime import describe_device, resolve_device, seed_everything, setup_threads
from rotnet.training.tasks import Task


def recipe(cfg: TrainParams) -> dict[str, Any]:
    """The training recipe, recorded beside the figures it produced."""
    aug = cfg.augment
    return {
        "optimizer": cfg.optimizer.name,
        "lr": cfg.optimizer.lr,
        "weight_decay": cfg.optimizer.weight_decay,
        "schedule": cfg.schedule.name,
        "batch_size": cfg.batch_size,
        "label_smoothing": cfg.label_smoothing,
        "crop_padding": aug.crop_padding,
        "flip": aug.flip,
        "resize_scale": list(aug.resize_scale) if aug.resize_scale else None,
        "autoaugment": aug.autoaugment,
        "cutmix_prob": aug.cutmix_prob,
    }


@dataclass
class StageContext:
    kind: str
    dataset: str
    backbone: str
    params: Params
    prepared: PreparedDataset
    device: torch.device
    engine: Engine
    world: World

    @classmethod
    def open(cls, params: Params, kind: str, dataset: str, backbone: str) -> StageContext:
        params.dataset(dataset)  # a clear error for an unknown dataset name
        setup_threads(params.runtime)
        device = resolve_device(params.runtime)
        world = init_world(device.type)
        if device.type == "cuda" and world.distributed:
            device = torch.device("cuda", world.local_rank)  # one GPU per process
            torch.cuda.set_device(device)
        prepared = load_prepared(paths.prepared_dir(dataset))
        if world.is_main:
            log(
                f"{kind}@{dataset}/{backbone}: {len(prepared.train.labels)} train, {len(prepared.val.labels)} val, "
                f"{len(prepared.test.labels)} test images on {describe_device(device)} x {world.size} process(es)"
            )
        seed_everything(params.seed)  # the same initial weights in every process
        data = DeviceDataset.from_prepared(prepared, device)
        engine = Engine(data, params.runtime, device, world)
        return cls(kind, dataset, backbone, params, prepared, device, engine, world)

    @property
    def in_chans(self) -> int:
        return int(self.prepared.train.images.shape[-1])

    def new_backbone(self, num_classes: int) -> Backbone:
        return create_backbone(self.backbone, num_classes, self.in_chans, self.params.backbone_options(self.backbone))

    def fingerprint(self, cfg: TrainParams, **extra: Any) -> dict[str, Any]:
        """What a resumable checkpoint must match: the params and data this run depends on."""
        meta = self.prepared.meta
        return {
            "stage": f"{self.kind}@{self.dataset}-{self.backbone}",
            "seed": self.params.seed,
            "params": cfg.model_dump(mode="json"),
            "backbone_options": self.params.backbone_options(self.backbone),
            "data": {"checksum": meta.get("checksum"), "counts": meta.get("counts")},
            **extra,
        }

    def fit(self, task: Task, cfg: TrainParams, **fingerprint_extra: Any) -> FitResult:
        # Only rank 0 writes: the other processes never touch outputs.
        recorder = (
            Recorder(
                paths.history_file(self.kind, self.dataset, self.backbone),
                paths.logs_dir(self.kind, self.dataset, self.backbone),
            )
            if self.world.is_main
            else None
        )
        ckpt = paths.checkpoint_file(self.kind, self.dataset, self.backbone)
        if not self.params.runtime.resume and self.world.is_main:
            ckpt.unlink(missing_ok=True)
        self.world.barrier()
        checkpointing = Checkpointing(
            ckpt, self.params.runtime.checkpoint_every, self.fingerprint(cfg, **fingerprint_extra)
        )
        try:
            # The data order and augmentation draw from their own seeded stream.
            return self.engine.fit(
                task,
                cfg,
                self.params.seed + 1,
                f"{self.kind}@{self.backbone}",
                recorder,
                checkpointing,
                sync_bn=self.params.distributed.sync_bn,
            )
        finally:
            if recorder is not None:
                recorder.close()

    def save(self, path: Path, state: dict[str, Any]) -> None:
        if self.world.is_main:
            save_checkpoint(path, state)

    def save_backbone(self, model: Backbone, num_classes: int, **info: Any) -> None:
        state = model_state(
            model,
            kind=self.kind,
            backbone=self.backbone,
            backbone_options=self.params.backbone_options(self.backbone),
            num_classes=num_classes,
            in_chans=self.in_chans,
            input_size=list(self.prepared.train.images.shape[1:3]),
            mean=self.prepared.mean,
            std=self.prepared.std,
            class_names=self.prepared.class_names,
            dataset=self.dataset,
            # How the prepare stage turned source images into inputs, for inference on new ones.
            preprocess={k: self.prepared.meta.get(k) for k in ("content_size", "resize", "pad_to", "channels")},
            **info,
        )
        self.save(paths.model_dir(self.kind, self.dataset, self.backbone) / "model.pt", state)

    def common_metrics(self, result: FitResult, cfg: TrainParams) -> dict[str, Any]:
        return {
            "recipe": recipe(cfg),
            "dataset": self.dataset,
            "data": self.prepared.meta.get("description", self.dataset),
            "backbone": self.backbone,
            "epochs": result.epochs,
            "wall_time_s": round(result.wall_time_s, 2),
            "train_time_s": round(result.train_time_s, 2),
            "images_per_s": round(result.images_per_s, 1),
            "device": describe_device(self.device),
            "processes": self.world.size,
            "host": platform.node(),
            "torch": torch.__version__,
        }

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        if self.world.is_main:
            write_json(paths.metrics_file(self.kind, self.dataset, self.backbone), metrics)

    def close(self) -> None:
        self.world.barrier()  # rank 0 has written everything before any process exits
        close_world(self.world)
