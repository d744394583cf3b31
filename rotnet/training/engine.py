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
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from rotnet.training.results import FitResult, accuracy, final_outputs
from rotnet.training.resume import Progress, resume_progress, save_resume_state
from rotnet.training.runtime import autocast
from rotnet.training.tasks import Task, targets_of


@dataclass(frozen=True)
class Checkpointing:
    """Where and how often fit() saves a resumable checkpoint, and what it must match."""

    path: Path
    every: int  # epochs between checkpoints (the last epoch always gets one)
    fingerprint: dict[str, Any]  # params and data the run depends on


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
        own = task.evaluate_split(self, split)
        if own is not None:
            return own
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
            with contextlib.nullcontext() if last else self.no_sync(task):
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

    def _own_step(self, task: Task, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """An own-loss task's step (Task.own_loss): its loss on the whole batch, one pass."""
        with autocast(self.device, self.runtime.amp):
            loss, correct, count = task.loss(batch)
        loss.backward()
        stats = torch.stack([loss.detach().double(), correct.double(), loss.new_tensor(count, dtype=torch.float64)])
        return loss.detach(), stats.view(3, 1)

    def no_sync(self, task: Task) -> contextlib.AbstractContextManager:
        """Under DDP: no gradient synchronisation (nor its bookkeeping) for what runs inside."""
        return task.run.no_sync() if self.world.distributed else contextlib.nullcontext()

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
        if task.own_loss:  # a loss over the whole batch: no micro-batches, so no sizing passes
            task.check_whole_batch(self.runtime.micro_batch, cfg.batch_size, world.size)
            micro = None
        else:
            micro = memory.micro_batch(self, task, cfg, desc)  # before compiling: its trial passes run eager
        if micro and world.is_main:
            log(f"{desc}: each step's {cfg.batch_size // world.size} images run in micro-batches of {micro}")
        if self.runtime.compile:
            task.compile()
        steps = self._epoch_steps(cfg, desc)
        optimizer = build_optimizer(task.param_groups(), cfg.optimizer)
        schedule = build_schedule(optimizer, cfg.schedule, cfg.epochs, steps)
        epoch_images = steps * cfg.batch_size
        loops = (task, optimizer, schedule)
        run = Progress()  # a fresh run's, or the one its checkpoint kept (task and loops restored in place)
        if checkpointing is not None:
            run = resume_progress(
                checkpointing.path, checkpointing.fingerprint, desc, loops, epoch_images, world.is_main
            )
        if on_epoch:
            for row in run.history:
                on_epoch(row)  # the history file and logs hold every epoch, resumed or not
        for epoch in range(run.first_epoch, last_epoch + 1):
            lr, per_output, epoch_time = self._train_epoch(
                task, cfg, optimizer, schedule, seed, epoch, steps, micro, desc, checkpointing
            )
            run.train_time += epoch_time
            run.train_images += epoch_images
            val, val_loss = self.evaluate(task, self.data.val)
            test_now = self.evaluate(task, self.data.test)[0] if test_each_epoch else {}
            schedule.after_epoch(val_loss)
            row = self._epoch_row(task, run, epoch, lr, per_output, steps * world.size, val_loss, val, test_now)
            row["images_per_s"] = epoch_images / max(epoch_time, 1e-9)
            row["time_s"] = (run.wall_before or 0.0) + time.monotonic() - start  # since the run's start
            run.history.append(row)
            if on_epoch:
                on_epoch(row)
            due = epoch % checkpointing.every == 0 or epoch == last_epoch if checkpointing else False
            if due and world.is_main:
                assert checkpointing is not None
                save_resume_state(
                    checkpointing.path, checkpointing.fingerprint, epoch, epoch == cfg.epochs, run.best, run.history,
                    run.counts(row["time_s"]), *loops,
                )  # fmt: skip
            shown = ", ".join(f"val {o} {row[f'val_acc/{o}']:.2f}%" for o in task.outputs[:4])
            more = f" (+{len(task.outputs) - 4} more)" if len(task.outputs) > 4 else ""
            if world.is_main:
                log(f"{desc} epoch {epoch}/{cfg.epochs}: loss {row['train_loss']:.4f}, {shown}{more}")
        if keep == "best":
            for out, (_, _, state) in run.best.items():
                task.restore(out, state)
        test, _ = self.evaluate(task, self.data.test)  # the only look at the test split
        return FitResult(
            outputs=final_outputs(task.outputs, task.follows, run.best, run.history, test, keep),
            history=run.history,
            epochs=last_epoch,
            train_time_s=run.train_time,
            train_images=run.train_images,
            wall_time_s=(run.wall_before or 0.0) + time.monotonic() - start,
            steps_per_epoch=steps,
            extra={"micro_batch": micro or cfg.batch_size // world.size, "segments": run.segments},
        )

    def _epoch_steps(self, cfg: TrainParams, desc: str) -> int:
        """Optimizer steps per epoch; an epoch that does not fill one batch is refused."""
        train = self.data.train
        steps = train.epoch_steps(cfg.batch_size, cfg.epoch_size)
        if steps == 0:
            raise RotnetError(
                f"{desc}: an epoch of {cfg.epoch_size or len(train)} images does not fill one batch of "
                f"{cfg.batch_size}; lower batch_size or set epoch_size (images per epoch, cycled)"
            )
        return steps

    def _train_epoch(
        self,
        task: Task,
        cfg: TrainParams,
        optimizer: torch.optim.Optimizer,
        schedule: Any,
        seed: int,
        epoch: int,
        steps: int,
        micro: int | None,
        desc: str,
        checkpointing: Checkpointing | None,
    ) -> tuple[float, torch.Tensor, float]:
        """One epoch of optimizer steps. Returns the epoch's lr, the per training output loss
        sum, correct count and target count over every process, and the epoch's time. A
        non-finite loss stops the run, in every process alike."""
        world = self.world
        task.train()
        lr = optimizer.param_groups[0]["lr"]
        # The first step with a non-finite loss (-1: none); per training output: loss
        # sum, correct count, target count.
        first_bad = torch.full((1,), -1.0, dtype=torch.float64, device=self.device)
        per_output = torch.zeros(3, len(task.train_outputs), dtype=torch.float64, device=self.device)
        _sync(self.device)
        t0 = time.monotonic()
        batches = task.batches(self.data.train, cfg, seed, epoch, (world.rank, world.size))
        # The time left counts the later epochs' steps too: the stage's, not the epoch's.
        shown = progress(batches, steps, f"{desc} epoch {epoch}/{cfg.epochs}", later=(cfg.epochs - epoch) * steps)
        for step, batch in enumerate(shown, 1):
            optimizer.zero_grad(set_to_none=True)
            try:
                if task.own_loss:
                    loss, step_outputs = self._own_step(task, batch)
                else:
                    loss, step_outputs = self._step(task, batch, cfg, micro)
            except RuntimeError as err:
                if memory.is_cuda_oom(err):
                    raise memory.oom_error(desc, micro, cfg.batch_size // world.size) from None
                raise
            optimizer.step()
            schedule.after_step()
            task.after_step((epoch - 1) * steps + step - 1, cfg.epochs * steps)
            # Checked once per epoch: a per-step check would stall the GPU on every step.
            first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
            per_output += step_outputs
        _sync(self.device)
        epoch_time = time.monotonic() - t0
        # Every process learns the totals, and so agrees on NaN stops and best epochs.
        bad = world.all_reduce(first_bad, op="max")
        world.all_reduce(per_output)
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
        return lr, per_output, epoch_time

    def _epoch_row(
        self,
        task: Task,
        run: Progress,
        epoch: int,
        lr: float,
        per_output: torch.Tensor,
        step_count: int,
        val_loss: float,
        val: dict[str, torch.Tensor],
        test_now: dict[str, torch.Tensor],
    ) -> dict[str, float]:
        """The epoch's history row, from ``per_output`` (per training output: loss sum over
        ``step_count`` steps, correct count, target count) and the evaluations; each output's
        best epoch so far (on validation) is kept in ``run``."""
        output_loss = per_output[0] / step_count
        row: dict[str, float] = {
            "epoch": epoch,
            "lr": lr,
            # The mean over training outputs of each one's unweighted loss.
            "train_loss": float(output_loss.mean()),
            "val_loss": val_loss,
        }
        for i, out in enumerate(task.train_outputs):
            if per_output[2, i] > 0:  # an own-loss task may monitor no predictions (BYOL)
                row[f"train_acc/{out}"] = float(per_output[1, i] / per_output[2, i]) * 100
            if task.follows:  # a task with auxiliary losses: each one's own
                row[f"train_loss/{out}"] = float(output_loss[i])
        for out in task.outputs:
            row[f"val_acc/{out}"] = accuracy(val[out])
            if test_now:  # recorded only: the best epoch below is chosen on validation
                row[f"test_acc/{out}"] = accuracy(test_now[out])
            if out in task.follows:
                continue  # its weights are those of the output it follows
            if out not in run.best or row[f"val_acc/{out}"] > run.best[out][0]:
                run.best[out] = (row[f"val_acc/{out}"], epoch, task.snapshot(out))
        return row
