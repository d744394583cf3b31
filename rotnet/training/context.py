"""What every training stage does around the engine, as one context manager.

    with StageRun(params, "pretrain", dataset, backbone) as run:
        for seed in run.each_seed():
            model = run.new_backbone(4)
            result = run.fit(RotationTask(model), params.pretrain)
            run.save_model(model, 4)
            run.write_results(metrics, record)

Entering it picks the device, joins the torchrun process group if any, takes the stage's
lock (two runs of one stage instance never write the same outputs), loads the prepared
data onto the device and seeds. ``fit`` resumes from, and keeps, a checkpoint per fit.
Only rank 0 writes, always atomically. Leaving it waits for every process and closes
the group, also when the stage failed.

``each_seed`` runs the body once per training seed (study.seeds): each seed reads the
upstream outputs of the same seed (``upstream``) and writes its own; with several seeds
the stage folder then gets the first seed's model and the results averaged over seeds
(rotnet.seeds), and ``seeds/`` holds every seed's outputs. A stage that chooses on
validation (a probe's layer and head, an epoch) gives ``each_seed`` a ``choose`` function:
it runs once every seed has run, and makes that choice once for all seeds
(rotnet.seeds.choose_once), so the figures averaged are those of one fixed choice.
"""

from __future__ import annotations

import functools
import platform
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import torch

from rotnet import paths
from rotnet.atomic import write_bytes, write_json
from rotnet.code_deps import ROOT, code_hash
from rotnet.data.device import DeviceDataset
from rotnet.data.prepared import PreparedDataset, load_prepared
from rotnet.errors import RotnetError
from rotnet.locks import StageLock
from rotnet.models.base import Backbone
from rotnet.models.registry import create_backbone
from rotnet.models.saved import load_model_file, model_state, save_model_file
from rotnet.params import Params, TrainParams
from rotnet.progress import log
from rotnet.seeds import over_seeds
from rotnet.training.distributed import World, close_world, init_world
from rotnet.training.engine import Checkpointing, Engine
from rotnet.training.recorder import Recorder
from rotnet.training.results import FitResult, OutputResult, per_class_accuracy
from rotnet.training.runtime import (
    describe_device,
    describe_precision,
    resolve_device,
    seed_everything,
    setup_threads,
)
from rotnet.training.tasks import Task


def recipe(cfg: TrainParams) -> dict[str, Any]:
    """The training recipe, recorded beside the figures it produced."""
    aug = cfg.augment
    return {
        "optimizer": cfg.optimizer.name,
        "lr": cfg.optimizer.lr,
        "weight_decay": cfg.optimizer.weight_decay,
        "schedule": cfg.schedule.name,
        "warmup_epochs": cfg.schedule.warmup_epochs,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "label_smoothing": cfg.label_smoothing,
        "crop_padding": aug.crop_padding,
        "flip": aug.flip,
        "resize_scale": list(aug.resize_scale) if aug.resize_scale else None,
        "autoaugment": aug.autoaugment,
        "cutmix_prob": aug.cutmix_prob,
    }


@dataclass
class SeedResults:
    """One training seed's results, kept until every seed has run: its metrics and run
    record, and what a choice across seeds reads (``candidates``, never written)."""

    seed: int
    metrics: dict[str, Any]
    record: dict[str, Any]
    candidates: Any = None


# Fills in every seed's metrics and record with choices made once over all seeds.
Chooser = Callable[[list[SeedResults]], None]


class StageRun:
    def __init__(
        self, params: Params, kind: str, dataset: str, backbone: str | None = None, variant: str | None = None
    ) -> None:
        self.params, self.kind, self.dataset, self.backbone = params, kind, dataset, backbone
        # A stage run per variant too (finetune: per head) writes under ``<kind>/<variant>``.
        self.out_kind = paths.variant_kind(kind, variant)
        self.name = f"{kind}@{dataset}" + (f"-{backbone}" if backbone else "") + (f"-{variant}" if variant else "")
        # Per-backbone stages key their files by backbone; small_input by dataset alone.
        self.checkpoints = (
            paths.checkpoint_dir(self.out_kind, dataset, backbone) if backbone else paths.CHECKPOINTS / dataset / kind
        )
        self.metrics_path = (
            paths.metrics_file(self.out_kind, dataset, backbone) if backbone else paths.small_input_file(dataset)
        )
        self.seeds = list(params.study.seeds)
        self.seed = self.seeds[0]  # the training seed of the run in progress (each_seed)
        self._per_seed: list[SeedResults] = []
        self.metrics: dict[str, Any] = {}  # what the metrics file holds once the stage is done
        self._lock = StageLock(paths.stage_lock(self.name), self.name)

    # -- training seeds ------------------------------------------------------------------
    @property
    def several_seeds(self) -> bool:
        return len(self.seeds) > 1

    def _out_dir(self, kind: str, seed: int) -> Path:
        """Where ``kind``'s outputs for training seed ``seed`` are."""
        base = paths.stage_dir(kind, self.dataset, self.backbone)
        return base if not self.several_seeds else paths.seeds_dir(kind, self.dataset, self.backbone) / str(seed)

    @property
    def out_dir(self) -> Path:
        """This stage's output folder for the current seed."""
        return self._out_dir(self.out_kind, self.seed)

    def upstream(self, kind: str, name: str = "model.pt") -> Path:
        """An earlier stage's output (same dataset and backbone) made with the current seed."""
        return self._out_dir(kind, self.seed) / name

    def upstream_model(self, kind: str) -> tuple[dict[str, Any], Path]:
        """An earlier stage's model file for the current seed, and its path; refused when it
        was built with other backbone options than params.yaml now gives."""
        path = self.upstream(kind)
        ckpt = load_model_file(path, kind=kind)
        now = self.params.backbone_options(self.backbone or "")
        if ckpt["backbone_options"] != now:
            raise RotnetError(
                f"the {kind} {self.backbone} was built with options {ckpt['backbone_options']}, params.yaml now "
                f"says {now}; rerun the {kind} stage (dvc repro)"
            )
        return ckpt, path

    def reseed(self) -> None:
        """Seed every RNG with the current training seed (each model of a stage starts alike)."""
        seed_everything(self.seed)

    def each_seed(self, choose: Chooser | None = None) -> Iterator[int]:
        """Run the body once per training seed; then ``choose`` (choices made once over the
        seeds, filled into every seed's results), and write the results: with several
        seeds, the stage folder gets the first seed's model and the figures averaged."""
        self._per_seed = []
        for seed in self.seeds:
            self.seed = seed
            self.reseed()
            if self.world.is_main and self.several_seeds:
                log(f"{self.name}: training seed {seed} ({self.seeds.index(seed) + 1} of {len(self.seeds)})")
            yield seed
        self.seed = self.seeds[0]
        if self.world.is_main:
            if choose is not None:
                choose(self._per_seed)
            self._write_seed_index()
            if self.several_seeds:
                self._write_over_seeds()
            elif self._per_seed:
                (one,) = self._per_seed
                write_json(self.out_dir / "run.json", one.record)
                write_json(self.metrics_path, one.metrics)
                self.metrics = one.metrics

    def _write_seed_index(self) -> None:
        folder = paths.seeds_dir(self.out_kind, self.dataset, self.backbone)
        # Seeds of an earlier run that this one does not have: their models would be stale.
        for old in folder.glob("*"):
            if old.is_dir() and old.name.isdigit() and (not self.several_seeds or int(old.name) not in self.seeds):
                shutil.rmtree(old)
        where = {str(s): str(self._out_dir(self.out_kind, s)) for s in self.seeds}
        write_json(folder / "index.json", {"seeds": where})

    def _write_over_seeds(self) -> None:
        first = self._out_dir(self.out_kind, self.seeds[0])
        top = paths.stage_dir(self.out_kind, self.dataset, self.backbone)
        for name in ("model.pt", "heads.pt"):  # what predict, orient and later stages' users open
            if (first / name).is_file():
                write_bytes(top / name, (first / name).read_bytes())
        metrics = over_seeds([r.metrics for r in self._per_seed], self.seeds)
        records = [r.record for r in self._per_seed]
        # Each seed's own record goes in the averaged one, not in seeds/: seeds/ holds the
        # byte-stable models alone, so later stages that read it rerun only when those change.
        record = {**over_seeds(records, self.seeds), "per_seed": dict(zip(map(str, self.seeds), records, strict=True))}
        write_json(top / "run.json", record)
        write_json(self.metrics_path, metrics)
        self.metrics = metrics

    # -- entering and leaving ------------------------------------------------------------
    def __enter__(self) -> StageRun:
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

    # -- training ------------------------------------------------------------------------
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

    def fit(
        self,
        task: Task,
        cfg: TrainParams,
        *,
        part: str = "last",
        data: DeviceDataset | None = None,
        history: bool = True,
        desc: str | None = None,
        keep: Literal["best", "last"] = "best",
        test_each_epoch: bool = False,
        **fingerprint_extra: Any,
    ) -> FitResult:
        """Train ``task``; resumable from ``checkpoints/.../<part>.pt``. A stage that trains
        several models (semisup, small_input) names each ``part`` and may give its own data.
        ``test_each_epoch``: the history also holds each epoch's test accuracy (Engine.fit)."""
        world = self.world
        engine = self.engine if data is None else Engine(data, self.params.runtime, self.device, world)
        recorder = None
        # Per-epoch history and TensorBoard logs: the first seed's run.
        if history and world.is_main and self.seed == self.seeds[0]:
            recorder = Recorder(
                paths.history_file(self.out_kind, self.dataset, self.backbone or ""),
                paths.logs_dir(self.out_kind, self.dataset, self.backbone or ""),
            )
        ckpt = self.checkpoints / (f"seed{self.seed}-{part}.pt" if self.several_seeds else f"{part}.pt")
        if not self.params.runtime.resume and world.is_main:
            ckpt.unlink(missing_ok=True)
        world.barrier()
        if test_each_epoch:  # a checkpoint's history must hold the test figures too
            fingerprint_extra["test_each_epoch"] = True
        checkpointing = Checkpointing(
            ckpt, self.params.runtime.checkpoint_every, self.fingerprint(cfg, part=part, **fingerprint_extra)
        )
        try:
            # The data order and augmentation draw from their own seeded streams.
            return engine.fit(
                task,
                cfg,
                self.seed + 1,
                desc or f"{self.kind}@{self.backbone}",
                recorder,
                checkpointing,
                sync_bn=self.params.distributed.sync_bn,
                keep=keep,
                test_each_epoch=test_each_epoch,
            )
        finally:
            if recorder is not None:
                recorder.close()

    # -- outputs (rank 0 only, atomic) ---------------------------------------------------
    def save(self, path: Path, state: dict[str, Any]) -> None:
        if self.world.is_main:
            save_model_file(path, state)

    def save_model(self, model: Backbone, num_classes: int, **info: Any) -> None:
        """The model file: weights plus what inference needs, and nothing that varies
        between identical runs (no times, no host), so DVC can skip what comes after."""
        p = self.prepared
        state = model_state(
            model.cpu(),
            kind=self.kind,
            backbone=self.backbone,
            backbone_options=self.params.backbone_options(self.backbone or ""),
            num_classes=num_classes,
            in_chans=self.in_chans,
            input_size=list(p.train.images.shape[1:3]),
            mean=p.mean,
            std=p.std,
            class_names=p.class_names,
            dataset=self.dataset,
            # How the prepare stage turned source images into inputs, for inference on new ones.
            preprocess={k: p.meta.get(k) for k in ("content_size", "resize", "pad_to", "channels")},
            **info,
        )
        self.save(self.out_dir / "model.pt", state)

    def run_details(self, cfg: TrainParams, result: FitResult | None = None) -> dict[str, Any]:
        """How the stage ran: for the run record, never for the metrics."""
        details: dict[str, Any] = {
            "stage": self.kind,
            "dataset": self.dataset,
            "data": self.prepared.meta.get("description", self.dataset),
            "backbone": self.backbone,
            "training_seed": self.seed,
            "recipe": recipe(cfg),
            "epochs": cfg.epochs,
            "device": describe_device(self.device),
            **describe_precision(self.device, self.params.runtime.amp),
            # What the report sets beside the official protocol (rotnet.report.protocol).
            "train_images": len(self.prepared.train.labels),
            "data_official": bool((self.prepared.meta.get("provenance") or {}).get("official", False)),
            "backbone_options": self.params.backbone_options(self.backbone) if self.backbone else None,
            "processes": self.world.size,
            "host": platform.node(),
            "torch": torch.__version__,
        }
        if result is not None:
            details.update(
                wall_time_s=round(result.wall_time_s, 2),
                train_time_s=round(result.train_time_s, 2),
                images_per_s=round(result.images_per_s, 1),
            )
            if "micro_batch" in result.extra:  # images per micro-batch, as run (after auto)
                details["micro_batch"] = result.extra["micro_batch"]
            if "segments" in result.extra:  # fit() calls the run took (1: never resumed; None: unknown)
                details["segments"] = result.extra["segments"]
        return details

    def output_results(
        self, out: OutputResult, result: FitResult, cfg: TrainParams, prefix: str = "", **details: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Metrics and run record of a stage with one output: its validation and test
        accuracy and throughput, and, in the record, the best epoch, ``details`` and how it ran."""
        metrics = {
            f"{prefix}val_acc": round(out.val_acc, 2),
            f"{prefix}test_acc": round(out.test_acc, 2),
            "images_per_s": round(result.images_per_s, 1),
        }
        return metrics, {**metrics, "best_epoch": out.best_epoch, **details, **self.run_details(cfg, result)}

    def classifier_results(
        self, out: OutputResult, result: FitResult, cfg: TrainParams, **details: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``output_results`` of a stage whose output classifies the dataset's classes: the
        record also holds the per-class test accuracy and the test confusion matrix."""
        return self.output_results(
            out,
            result,
            cfg,
            **details,
            per_class_test_acc=per_class_accuracy(out.test_confusion, self.prepared.class_names),
            test_confusion=out.test_confusion,
        )

    def write_results(self, metrics: dict[str, Any], record: dict[str, Any], candidates: Any = None) -> None:
        """Metrics (results to compare across experiments) and the run record beside the model,
        of the current seed, written once every seed has run (each_seed), after the choices
        made over seeds from each seed's ``candidates``."""
        if self.world.is_main:
            self._per_seed.append(SeedResults(self.seed, metrics, record, candidates))
