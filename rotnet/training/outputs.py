"""What a training stage writes, and where: its folders per training seed, checkpoint
names, history and logs, and the model file. Only rank 0 writes, always atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rotnet import paths
from rotnet.models.base import Backbone
from rotnet.models.saved import model_state, save_model_file
from rotnet.training.environment import StageEnvironment, seed_folder


class StageOutputs:
    def __init__(self, env: StageEnvironment) -> None:
        self.env = env
        dataset, backbone = env.dataset, env.backbone
        # A stage run per variant too (finetune: per head) writes under ``<kind>/<variant>``.
        self.kind = paths.variant_kind(env.kind, env.variant)
        # Per-backbone stages key their files by backbone; small_input by dataset alone.
        self.checkpoints = (
            paths.checkpoint_dir(self.kind, dataset, backbone) if backbone else paths.CHECKPOINTS / dataset / env.kind
        )
        self.metrics_path = (
            paths.metrics_file(self.kind, dataset, backbone) if backbone else paths.small_input_file(dataset)
        )
        self.history_path = paths.history_file(self.kind, dataset, backbone or "")
        self.logs_dir = paths.logs_dir(self.kind, dataset, backbone or "")

    def folder(self, seed: int) -> Path:
        """This stage's output folder for training seed ``seed``."""
        return seed_folder(self.kind, self.env.dataset, self.env.backbone, seed, self.env.several_seeds)

    @property
    def top(self) -> Path:
        """The stage folder: what later stages' users open (with several seeds, the first's model)."""
        return paths.stage_dir(self.kind, self.env.dataset, self.env.backbone)

    @property
    def seeds_dir(self) -> Path:
        return paths.seeds_dir(self.kind, self.env.dataset, self.env.backbone)

    @property
    def out_dir(self) -> Path:
        """This stage's output folder for the current seed."""
        return self.folder(self.env.seed)

    def checkpoint(self, part: str) -> Path:
        """The resumable checkpoint of one fit (``part``) of the current seed."""
        return self.checkpoints / (f"seed{self.env.seed}-{part}.pt" if self.env.several_seeds else f"{part}.pt")

    def save(self, path: Path, state: dict[str, Any]) -> None:
        if self.env.world.is_main:
            save_model_file(path, state)

    def save_model(self, model: Backbone, num_classes: int, **info: Any) -> None:
        """The model file: weights plus what inference needs, and nothing that varies
        between identical runs (no times, no host), so DVC can skip what comes after."""
        env, p = self.env, self.env.prepared
        state = model_state(
            model.cpu(),
            kind=env.kind,
            backbone=env.backbone,
            backbone_options=env.params.backbone_options(env.backbone or ""),
            num_classes=num_classes,
            in_chans=env.in_chans,
            input_size=list(p.train.images.shape[1:3]),
            mean=p.mean,
            std=p.std,
            class_names=p.class_names,
            dataset=env.dataset,
            # How the prepare stage turned source images into inputs, for inference on new ones.
            preprocess={k: p.meta.get(k) for k in ("content_size", "resize", "pad_to", "channels")},
            **info,
        )
        self.save(self.out_dir / "model.pt", state)
