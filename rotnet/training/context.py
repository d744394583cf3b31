"""A training stage, as one context manager: its environment, its fits, its outputs.

    with StageRun(params, "pretrain", dataset, backbone) as stage:
        env, out = stage.env, stage.outputs
        for seed in stage.each_seed():
            model = env.new_backbone(4)
            result = stage.fit(RotationTask(model), params.pretrain)
            out.save_model(model, 4)
            stage.write_results(*results.output_results(env, ...))

``env`` (rotnet.training.environment) is where it runs: lock, processes, device, data,
models, upstream checks, fingerprint. ``outputs`` (rotnet.training.outputs) is what it
writes and where. ``each_seed`` and ``write_results`` (rotnet.training.seed_runs) run the
body per training seed and write the results once all have run. ``fit`` trains through
the engine; it resumes from, and keeps, a checkpoint per fit. How results are formatted
is rotnet.training.results.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any, Literal

from rotnet.data.device import DeviceDataset
from rotnet.params import Params, TrainParams
from rotnet.training.engine import Checkpointing, Engine
from rotnet.training.environment import StageEnvironment
from rotnet.training.outputs import StageOutputs
from rotnet.training.recorder import Recorder
from rotnet.training.results import FitResult
from rotnet.training.seed_runs import Chooser, SeedRuns
from rotnet.training.tasks import Task


class StageRun:
    def __init__(
        self, params: Params, kind: str, dataset: str, backbone: str | None = None, variant: str | None = None
    ) -> None:
        self.env = StageEnvironment(params, kind, dataset, backbone, variant)
        self.outputs = StageOutputs(self.env)
        self.seed_runs = SeedRuns(self.env, self.outputs)

    def __enter__(self) -> StageRun:
        self.env.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.env.__exit__(exc_type, exc, tb)

    def each_seed(self, choose: Chooser | None = None) -> Iterator[int]:
        """The body once per training seed, then the results written (SeedRuns.each_seed)."""
        return self.seed_runs.each_seed(choose)

    def write_results(self, metrics: dict[str, Any], record: dict[str, Any], candidates: Any = None) -> None:
        """The current seed's metrics and run record (SeedRuns.write_results)."""
        self.seed_runs.write_results(metrics, record, candidates)

    @property
    def metrics(self) -> dict[str, Any]:
        """What the metrics file holds once every seed has run."""
        return self.seed_runs.metrics

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
        env, world, runtime = self.env, self.env.world, self.env.params.runtime
        engine = env.engine if data is None else Engine(data, runtime, env.device, world)
        recorder = None
        # Per-epoch history and TensorBoard logs: the first seed's run. A fit without the
        # stage's history (a control, an arm, a variant) logs to TensorBoard under its part.
        if world.is_main and env.seed == env.seeds[0]:
            out = self.outputs
            recorder = Recorder(out.history_path, out.logs_dir) if history else Recorder(None, out.logs_dir / part)
        ckpt = self.outputs.checkpoint(part)
        if not runtime.resume and world.is_main:
            ckpt.unlink(missing_ok=True)
        world.barrier()
        if test_each_epoch:  # a checkpoint's history must hold the test figures too
            fingerprint_extra["test_each_epoch"] = True
        checkpointing = Checkpointing(
            ckpt, runtime.checkpoint_every, env.fingerprint(cfg, part=part, **fingerprint_extra)
        )
        try:
            # The data order and augmentation draw from their own seeded streams.
            return engine.fit(
                task,
                cfg,
                env.seed + 1,
                desc or f"{env.kind}@{env.backbone}",
                recorder,
                checkpointing,
                sync_bn=env.params.distributed.sync_bn,
                keep=keep,
                test_each_epoch=test_each_epoch,
            )
        finally:
            if recorder is not None:
                recorder.close()
