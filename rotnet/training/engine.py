"""The training loop shared by every stage.

Per epoch: batches from the on-device dataset, ready to train on (rotnet.data.device);
one optimizer step per batch; a validation pass. Each output keeps the weights of its best validation
epoch; the test split is evaluated once, at the end, with those weights. ``test_each_epoch``
also records each epoch's test accuracy in the history, for a choice of epoch made later on
validation figures alone (one epoch for several training seeds, rotnet.seeds.choose_once):
nothing here reads it, and evaluation draws no random numbers, so training is unchanged.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from rotnet.data.device import Batch, DeviceDataset, DeviceSplit
from rotnet.errors import RotnetError
from rotnet.params import RuntimeParams, TrainParams
from rotnet.progress import log, progress
from rotnet.training import memory
from rotnet.training.distributed import World, check_batch
from rotnet.training.optim import build_optimizer, build_schedule
from rotnet.training.resume import Counts, load_resume_state, save_resume_state
from rotnet.training.runtime import autocast
from rotnet.training.tasks import Task, targets_of


@dataclass
class OutputResult:
    best_epoch: int
    val_acc: float
    test_acc: float
    test_confusion: list[list[int]]  # rows: true class, columns: predicted class


@dataclass(frozen=True)
class Checkpointing:
    """Where and how often fit() saves a resumable checkpoint, and what it must match."""

    path: Path
    every: int  # epochs between checkpoints (the last epoch always gets one)
    fingerprint: dict[str, Any]  # params and data the run depends on


@dataclass
class FitResult:
    """What fit() trained and how fast. A resumed run reports the whole run, over all its
    segments (the fit() calls it took, ``extra["segments"]``): the time and images of the
    epochs its checkpoints kept. Work a kill threw away after the last checkpoint is redone,
    not counted; each later segment's start-up (sizing, compiling, loading) is counted.
    ``extra["segments"]`` is None when the run resumed from a checkpoint written before the
    counts were saved: its wall time then covers the last segment only (images and train
    time are whole all the same)."""

    outputs: dict[str, OutputResult]
    history: list[dict[str, float]]
    epochs: int
    train_time_s: float  # optimizer steps only, validation excluded; all segments
    train_images: int  # source images seen in training (before any rotation copies); all segments
    wall_time_s: float  # the sum of the segments' wall times (each killed one up to its last checkpoint)
    steps_per_epoch: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        return self.train_images / max(self.train_time_s, 1e-9)


def accuracy(confusion: torch.Tensor) -> float:
    return float(confusion.diagonal().sum() / confusion.sum().clamp(min=1) * 100)


def per_class_accuracy(confusion: list[list[int]], class_names: list[str]) -> dict[str, float]:
    """Accuracy % of each true class, from a confusion matrix (rows: true class)."""
    return {
        name: round(row[i] / max(sum(row), 1) * 100, 2)
        for i, (name, row) in enumerate(zip(class_names, confusion, strict=False))
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Engine:
    def __init__(
        self, data: DeviceDataset, runtime: RuntimeParams, device: torch.device, world: World | None = None
    ) -> None:
        self.data = data
        self.runtime = runtime
        self.device = device
        self.world = world or World()

    def _prepare(self, task: Task, sync_bn: bool) -> None:
        for module in task.modules():
            module.to(self.device)
            if self.runtime.channels_last:
                module.to(memory_format=torch.channels_last)
        if self.world.distributed:
            if sync_bn:
                if self.device.type != "cuda":
                    raise RotnetError("distributed.sync_bn needs CUDA GPUs; set it to false on the CPU")
                torch.nn.SyncBatchNorm.convert_sync_batchnorm(task.trainable_module())
            ids = [self.device.index] if self.device.type == "cuda" else None
            task.wrap(lambda m: DistributedDataParallel(m, device_ids=ids))

    @torch.no_grad()
    def evaluate(self, task: Task, split: DeviceSplit) -> tuple[dict[str, torch.Tensor], float]:
        """Confusion matrix per output and the mean over outputs of each one's mean
        cross-entropy over a whole split (no augmentation); each process evaluates its share
        and the counts are summed."""
        task.eval()
        outputs = task.outputs
        conf = {o: torch.zeros(task.classes(o), task.classes(o), dtype=torch.long, device=self.device) for o in outputs}
        # per output: loss sum, target count
        totals = torch.zeros(len(outputs), 2, dtype=torch.float64, device=self.device)
        shard = (self.world.rank, self.world.size)
        for batch in split.eval_batches(self.runtime.eval_batch_size, shard=shard):
            with autocast(self.device, self.runtime.amp):
                logits, targets = task.forward(batch.x, batch.y)
            for i, out in enumerate(outputs):
                lg, t = logits[out], targets_of(targets, out)
                k = task.classes(out)
                conf[out] += torch.bincount(t * k + lg.argmax(1), minlength=k * k).view(k, k)
                totals[i, 0] += F.cross_entropy(lg.float(), t, reduction="sum")
                totals[i, 1] += len(t)
        for c in conf.values():
            self.world.all_reduce(c)
        self.world.all_reduce(totals)
        mean_loss = float((totals[:, 0] / totals[:, 1].clamp(min=1)).mean())
        return {o: c.cpu() for o, c in conf.items()}, mean_loss

    def _step(self, task: Task, batch: Batch, cfg: TrainParams, micro: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward of one batch, in micro-batches when ``micro`` is set; their
        gradients are summed, each weighted by its share of the batch. The loss is the sum
        over the task's training outputs, each weighted (``task.loss_weight``). Returns the
        batch's loss and, per training output, its mean loss, correct count and target count
        (a (3, outputs) tensor)."""
        sizes = memory.split_sizes(len(batch.x), micro)
        mixed = batch.mixed.split(sizes) if batch.mixed is not None else [None] * len(sizes)
        outputs = task.train_outputs
        weights = [task.loss_weight(o) for o in outputs]
        total: torch.Tensor | int = 0
        per_output = torch.zeros(3, len(outputs), dtype=torch.float64, device=self.device)
        for i, (x, y, m) in enumerate(zip(batch.x.split(sizes), batch.y.split(sizes), mixed, strict=True)):
            last = i == len(sizes) - 1
            share = len(x) / len(batch.x)
            # Under DDP, gradients are synchronised once, after the last micro-batch.
            with contextlib.nullcontext() if last else self._no_sync(task):
                with autocast(self.device, self.runtime.amp):
                    logits, targets = task.forward(x, y)
                    # CutMix's soft targets replace the labels (its tasks have one target tensor).
                    losses = [
                        F.cross_entropy(
                            logits[o].float(),
                            targets_of(targets, o) if m is None else m,
                            label_smoothing=cfg.label_smoothing,
                        )
                        for o in outputs
                    ]
                    loss = sum(w * v for w, v in zip(weights, losses, strict=True))
                if len(sizes) > 1:
                    loss = loss * share
                loss.backward()
            total = total + loss.detach()
            # One stacked update per micro-batch, not three small ops per output (probes have many).
            hits = [(logits[o].argmax(1) == targets_of(targets, o)).sum() for o in outputs]
            counts = [float(len(targets_of(targets, o))) for o in outputs]
            per_output += torch.stack(
                [torch.stack(losses).detach() * share, torch.stack(hits), per_output.new_tensor(counts)]
            )
        assert isinstance(total, torch.Tensor)
        return total, per_output

    def _no_sync(self, task: Task) -> contextlib.AbstractContextManager:
        """Under DDP: no gradient synchronisation (nor its bookkeeping) for what runs inside."""
        return task.run.no_sync() if self.world.distributed else contextlib.nullcontext()

    def _micro_batch(self, task: Task, cfg: TrainParams, desc: str) -> int | None:
        """Images per micro-batch (runtime.micro_batch; None: the whole batch at once). On the
        CPU a step that would not fit in memory is refused here, before it is killed."""
        want = self.runtime.micro_batch
        batch = cfg.batch_size // self.world.size  # this process's share of a step
        if isinstance(want, int):
            want = min(want, batch)
        if self.device.type == "cuda":
            return self._cuda_trial(task, cfg, batch, desc) if want == "auto" else want
        per_image, fixed = self._cpu_estimate(task)
        available = memory.available_memory()
        fits = memory.cpu_micro_batch(per_image, fixed, batch, available)
        size = batch if want is None else (fits if want == "auto" else want)
        need = fixed + memory.BACKWARD_FACTOR * per_image * max(size, 1)
        if fits == 0:
            raise memory.refuse(
                desc,
                need,
                available,
                "even one image per micro-batch does not fit: use a smaller backbone or input size, or free memory",
            )
        if size > fits:
            knob = (
                f"set runtime.micro_batch: auto (it would take {fits} images at a time) or lower batch_size"
                if want is None
                else f"lower runtime.micro_batch to {fits} or less, or set it to auto"
            )
            raise memory.refuse(desc, need, available, knob)
        return None if size >= batch else size

    @contextlib.contextmanager
    def _leaving_no_trace(self, task: Task):
        """For sizing passes: weights, BatchNorm statistics and the random stream are restored
        afterwards, and under DDP nothing is synchronised."""
        states = [copy.deepcopy(m.state_dict()) for m in task.modules()]
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), self._no_sync(task):
            yield
        for m, state in zip(task.modules(), states, strict=True):
            m.load_state_dict(state)

    def _cpu_estimate(self, task: Task) -> tuple[float, int]:
        """Bytes saved per image by a training forward pass, and the model's fixed bytes. The
        probe pass changes nothing: BatchNorm statistics and the random state are restored."""
        probe = self.data.train
        n = min(2, len(probe))
        x = probe.normalize(probe.images[:n])
        y = probe.labels[:n]
        task.train()

        def forward(k: int) -> torch.Tensor:
            with autocast(self.device, self.runtime.amp):
                return task.forward(x[:k], y[:k])[0]

        with self._leaving_no_trace(task):
            per_image = memory.saved_bytes_per_image(forward, n)
        return per_image, memory.model_state_bytes(task.modules())

    def _cuda_trial(self, task: Task, cfg: TrainParams, batch: int, desc: str) -> int | None:
        """The largest micro-batch whose forward and backward pass fit on the GPU, halving from
        the whole batch; the trials leave weights, statistics and random state as they were."""
        split = self.data.train
        size = batch
        task.train()
        with self._leaving_no_trace(task):
            while size >= 1:
                idx = torch.arange(min(size, len(split)), device=self.device)
                trial = Batch(split.normalize(split.images[idx]), split.labels[idx])
                try:
                    self._step(task, trial, cfg, None)
                    break
                except RuntimeError as err:
                    if not memory.is_cuda_oom(err):
                        raise
                    size //= 2
                finally:
                    for m in task.modules():
                        m.zero_grad(set_to_none=True)
                    torch.cuda.empty_cache()
        if size < 1:
            raise RotnetError(f"{desc}: one image per step does not fit on the GPU; use a smaller backbone")
        return None if size >= batch else size

    def _oom(self, desc: str, micro: int | None, cfg: TrainParams) -> RotnetError:
        now = micro or cfg.batch_size // self.world.size
        return RotnetError(
            f"{desc}: the GPU ran out of memory at {now} images per step; set runtime.micro_batch to a "
            f"smaller size (or auto, which finds the largest that fits), or lower batch_size"
        )

    def fit(
        self,
        task: Task,
        cfg: TrainParams,
        seed: int,
        desc: str,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        checkpointing: Checkpointing | None = None,
        sync_bn: bool = False,
        stop_after: int | None = None,
        keep: Literal["best", "last"] = "best",
        test_each_epoch: bool = False,
    ) -> FitResult:
        """Train ``cfg.epochs`` epochs, or only the first ``stop_after`` of them (a trial of
        the recipe's start: the lr schedule still spans ``cfg.epochs``). ``keep``: each output
        ends with its best validation epoch's weights, or with the last epoch's."""
        start = time.monotonic()
        last_epoch = min(cfg.epochs, stop_after or cfg.epochs)
        world = self.world
        check_batch(cfg.batch_size, world, desc)
        self._prepare(task, sync_bn)
        micro = self._micro_batch(task, cfg, desc)  # before compiling: its trial passes run eager
        if micro and world.is_main:
            log(f"{desc}: each step's {cfg.batch_size // world.size} images run in micro-batches of {micro}")
        if self.runtime.compile:
            task.compile()
        train = self.data.train
        steps = train.epoch_steps(cfg.batch_size, cfg.epoch_size)
        if steps == 0:
            raise RotnetError(
                f"{desc}: an epoch of {cfg.epoch_size or len(train)} images does not fill one batch of "
                f"{cfg.batch_size}; lower batch_size or set epoch_size (images per epoch, cycled)"
            )
        optimizer = build_optimizer(task.param_groups(), cfg.optimizer)
        schedule = build_schedule(optimizer, cfg.schedule, cfg.epochs, steps)
        best: dict[str, tuple[float, int, dict[str, torch.Tensor]]] = {}
        history: list[dict[str, float]] = []
        epoch_images = steps * cfg.batch_size
        # The run's counts over all segments (Counts): this segment adds to what its checkpoint held.
        train_time, train_images, wall_before, segments = 0.0, 0, 0.0, 1
        first_epoch = 1
        loops = (task, optimizer, schedule)
        if checkpointing is not None:
            resumed = load_resume_state(checkpointing.path, checkpointing.fingerprint, desc, *loops)
            if resumed is not None:
                first_epoch, best, history, was = resumed.next_epoch, resumed.best, resumed.history, resumed.counts
                train_time = was.train_time
                # An older checkpoint's images are known all the same: its fingerprint fixes steps and batch.
                train_images = epoch_images * (first_epoch - 1) if was.train_images is None else was.train_images
                wall_before = was.wall_time
                segments = None if was.segments is None else was.segments + 1
                if was.wall_time is None and world.is_main:
                    log(f"{desc}: {checkpointing.path} predates whole-run times; wall time covers this segment only")
                for row in history:
                    if on_epoch:
                        on_epoch(row)  # the history file and logs hold every epoch, resumed or not
        for epoch in range(first_epoch, last_epoch + 1):
            task.train()
            lr = optimizer.param_groups[0]["lr"]
            # The first step with a non-finite loss (-1: none); per training output: loss
            # sum, correct count, target count.
            first_bad = torch.full((1,), -1.0, dtype=torch.float64, device=self.device)
            per_output = torch.zeros(3, len(task.train_outputs), dtype=torch.float64, device=self.device)
            _sync(self.device)
            t0 = time.monotonic()
            batches = train.train_batches(
                cfg.batch_size,
                cfg.augment,
                task.num_classes,
                seed,
                epoch,
                shard=(world.rank, world.size),
                epoch_size=cfg.epoch_size,
            )
            for step, batch in enumerate(progress(batches, steps, f"{desc} epoch {epoch}/{cfg.epochs}"), 1):
                optimizer.zero_grad(set_to_none=True)
                try:
                    loss, step_outputs = self._step(task, batch, cfg, micro)
                except RuntimeError as err:
                    if memory.is_cuda_oom(err):
                        raise self._oom(desc, micro, cfg) from None
                    raise
                optimizer.step()
                schedule.after_step()
                # Checked once per epoch: a per-step check would stall the GPU on every step.
                first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
                per_output += step_outputs
            _sync(self.device)
            epoch_time = time.monotonic() - t0
            train_time += epoch_time
            train_images += epoch_images
            # Every process learns the totals, and so agrees on NaN stops and best epochs.
            bad = world.all_reduce(first_bad, op="max")
            world.all_reduce(per_output)
            output_loss = per_output[0] / (steps * world.size)
            if int(bad) >= 0:
                kept = (
                    f"the last good checkpoint {checkpointing.path} is kept"
                    if checkpointing is not None and checkpointing.path.is_file()
                    else "no checkpoint was written yet"
                )
                raise RotnetError(
                    f"{desc}: the training loss became NaN or infinite in epoch {epoch}, step {int(bad)}; "
                    f"{kept}. Lower the learning rate (optimizer.lr) or check the data"
                )
            val, val_loss = self.evaluate(task, self.data.val)
            test_now = self.evaluate(task, self.data.test)[0] if test_each_epoch else {}
            schedule.after_epoch(val_loss)
            row: dict[str, float] = {
                "epoch": epoch,
                "lr": lr,
                # The mean over training outputs of each one's unweighted loss.
                "train_loss": float(output_loss.mean()),
                "val_loss": val_loss,
            }
            for i, out in enumerate(task.train_outputs):
                row[f"train_acc/{out}"] = float(per_output[1, i] / per_output[2, i].clamp(min=1)) * 100
                if task.follows:  # a task with auxiliary losses: each one's own
                    row[f"train_loss/{out}"] = float(output_loss[i])
            for out in task.outputs:
                row[f"val_acc/{out}"] = accuracy(val[out])
                if test_now:  # recorded only: the best epoch below is chosen on validation
                    row[f"test_acc/{out}"] = accuracy(test_now[out])
                if out in task.follows:
                    continue  # its weights are those of the output it follows
                if out not in best or row[f"val_acc/{out}"] > best[out][0]:
                    best[out] = (row[f"val_acc/{out}"], epoch, task.snapshot(out))
            row["images_per_s"] = epoch_images / max(epoch_time, 1e-9)
            row["time_s"] = (wall_before or 0.0) + time.monotonic() - start  # since the run's start
            history.append(row)
            if on_epoch:
                on_epoch(row)
            due = epoch % checkpointing.every == 0 or epoch == last_epoch if checkpointing else False
            if due and world.is_main:
                save_resume_state(
                    checkpointing.path,
                    checkpointing.fingerprint,
                    epoch,
                    epoch == cfg.epochs,
                    best,
                    history,
                    Counts(train_time, train_images, None if wall_before is None else row["time_s"], segments),
                    *loops,
                )
            shown = ", ".join(f"val {o} {row[f'val_acc/{o}']:.2f}%" for o in task.outputs[:4])
            more = f" (+{len(task.outputs) - 4} more)" if len(task.outputs) > 4 else ""
            if world.is_main:
                log(f"{desc} epoch {epoch}/{cfg.epochs}: loss {row['train_loss']:.4f}, {shown}{more}")
        if keep == "best":
            for out, (_, _, state) in best.items():
                task.restore(out, state)
        test, _ = self.evaluate(task, self.data.test)  # the only look at the test split
        outputs = {}
        for o in task.outputs:
            if keep == "last":
                epoch, val_acc = history[-1]["epoch"], history[-1][f"val_acc/{o}"]
                outputs[o] = OutputResult(int(epoch), val_acc, accuracy(test[o]), test[o].tolist())
                continue
            epoch = best[task.follows.get(o, o)][1]
            val_acc = best[o][0] if o in best else next(r[f"val_acc/{o}"] for r in history if r["epoch"] == epoch)
            outputs[o] = OutputResult(epoch, val_acc, accuracy(test[o]), test[o].tolist())
        return FitResult(
            outputs=outputs,
            history=history,
            epochs=last_epoch,
            train_time_s=train_time,
            train_images=train_images,
            wall_time_s=(wall_before or 0.0) + time.monotonic() - start,
            steps_per_epoch=steps,
            extra={"micro_batch": micro or cfg.batch_size // world.size, "segments": segments},
        )
