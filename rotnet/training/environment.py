"""Where a training stage runs: its lifecycle, data, models and what its checkpoints must match.

Entering a StageEnvironment picks the device, joins the torchrun process group if any,
takes the stage's lock (two runs of one stage instance never write the same outputs),
loads the prepared data onto the device and seeds. Leaving it waits for every process
and closes the group, also when the stage failed. It also builds the stage's models,
checks the upstream models it reads against params.yaml, and fingerprints the params,
data and code a resumable checkpoint must match. ``seed`` is the training seed of the
run in progress (rotnet.training.seed_runs moves it).
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from rotnet import paths
from rotnet.code_deps import ROOT, code_hash
from rotnet.data.device import DeviceDataset
from rotnet.data.prepared import PreparedDataset, load_prepared
from rotnet.errors import RotnetError
from rotnet.locks import StageLock
from rotnet.models.base import Backbone
from rotnet.models.registry import create_backbone
from rotnet.models.saved import load_model_file
from rotnet.params import Params, TrainParams
from rotnet.progress import log
from rotnet.training.distributed import World, close_world, init_world
from rotnet.training.engine import Engine
from rotnet.training.forecast import forecast_line
from rotnet.training.runtime import describe_device, resolve_device, seed_everything, setup_threads


def seed_folder(kind: str, dataset: str, backbone: str | None, seed: int, several_seeds: bool) -> Path:
    """Where ``kind``'s outputs for training seed ``seed`` are: the stage folder with one
    seed, ``seeds/<seed>`` under it with several."""
    if not several_seeds:
        return paths.stage_dir(kind, dataset, backbone)
    return paths.seeds_dir(kind, dataset, backbone) / str(seed)


class StageEnvironment:
    def __init__(
        self, params: Params, kind: str, dataset: str, backbone: str | None = None, variant: str | None = None
    ) -> None:
        self.params, self.kind, self.dataset, self.backbone, self.variant = params, kind, dataset, backbone, variant
        self.name = f"{kind}@{dataset}" + (f"-{backbone}" if backbone else "") + (f"-{variant}" if variant else "")
        self.seeds = list(params.study.seeds)
        self.seed = self.seeds[0]  # the training seed of the run in progress
        self._lock = StageLock(paths.stage_lock(self.name), self.name)

    @property
    def several_seeds(self) -> bool:
        return len(self.seeds) > 1

    # -- entering and leaving ------------------------------------------------------------
    def __enter__(self) -> StageEnvironment:
        params = self.params
        params.dataset(self.dataset)  # a clear error for an unknown dataset name
        setup_threads(params.runtime)
        self.device = resolve_device(params.runtime)
        self.world: World = init_world(self.device.type)
        try:
            if self.device.type == "cuda" and self.world.distributed:
                self.device = torch.device("cuda", self.world.local_rank)  # one GPU per process
                torch.cuda.set_device(self.device)
            if self.world.is_main:
                self._lock.acquire()
            self.prepared: PreparedDataset = load_prepared(paths.prepared_dir(self.dataset))
            if self.world.is_main:
                p = self.prepared
                log(
                    f"{self.name}: {len(p.train.labels)} train, {len(p.val.labels)} val, {len(p.test.labels)} test "
                    f"images on {describe_device(self.device)} x {self.world.size} process(es)"
                )
                if note := forecast_line(params, self.device, len(p.train.labels)):
                    log(f"{self.name}: {note}")
            seed_everything(self.seed)  # the same initial weights in every process
            self.data = self.device_data(self.prepared)
            self.engine = Engine(self.data, params.runtime, self.device, self.world)
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.world.barrier()  # rank 0 has written everything before any process exits
        self._close()

    def _close(self) -> None:
        self._lock.release()
        close_world(self.world)

    def reseed(self) -> None:
        """Seed every RNG with the current training seed (each model of a stage starts alike)."""
        seed_everything(self.seed)

    # -- data and models -----------------------------------------------------------------
    @property
    def in_chans(self) -> int:
        return int(self.prepared.train.images.shape[-1])

    def device_data(self, prepared: PreparedDataset) -> DeviceDataset:
        return DeviceDataset.from_prepared(prepared, self.device, self.params.runtime.channels_last)

    def new_backbone(self, num_classes: int, name: str | None = None) -> Backbone:
        name = name or self.backbone
        assert name is not None
        return create_backbone(name, num_classes, self.in_chans, self.params.backbone_options(name))

    # -- upstream outputs ----------------------------------------------------------------
    def upstream(self, kind: str, name: str = "model.pt") -> Path:
        """An earlier stage's output (same dataset and backbone) made with the current seed."""
        return seed_folder(kind, self.dataset, self.backbone, self.seed, self.several_seeds) / name

    def upstream_model(self, kind: str) -> tuple[dict[str, Any], Path]:
        """An earlier stage's model file for the current seed, and its path; refused when it
        was built with other backbone options than params.yaml now gives. A variant's kind
        (``ssl_pretrain/simclr``) reads a file of its stage's kind (``ssl_pretrain``)."""
        path = self.upstream(kind)
        ckpt = load_model_file(path, kind=kind.split("/")[0])
        now = self.params.backbone_options(self.backbone or "")
        if ckpt["backbone_options"] != now:
            raise RotnetError(
                f"the {kind} {self.backbone} was built with options {ckpt['backbone_options']}, params.yaml now "
                f"says {now}; rerun the {kind} stage (dvc repro)"
            )
        return ckpt, path

    # -- what a resumable checkpoint must match ------------------------------------------
    @functools.cached_property
    def code(self) -> str:
        """The hash of the code this stage runs (its script's import closure): a run killed
        under one version of the training code never resumes under another."""
        script = ROOT / "stages" / f"{self.kind}.py"
        return code_hash(script if script.is_file() else ROOT / "rotnet" / "stages" / f"{self.kind}.py")

    def fingerprint(self, cfg: TrainParams, **extra: Any) -> dict[str, Any]:
        """What a resumable checkpoint must match: the params, data and code this run depends on."""
        meta = self.prepared.meta
        return {
            "stage": self.name,
            "code": self.code,
            "seed": self.params.seed,
            "training_seed": self.seed,
            "params": cfg.model_dump(mode="json"),
            # Micro-batches change what BatchNorm sees, so a resumed run must keep them.
            "micro_batch": self.params.runtime.micro_batch,
            "backbone_options": self.params.backbone_options(self.backbone) if self.backbone else None,
            "data": {"checksum": meta.get("checksum"), "counts": meta.get("counts")},
            **extra,
        }
