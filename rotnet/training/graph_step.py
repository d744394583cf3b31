"""A whole training step the host cannot slow down: static shapes, no host syncs, no Python
branches on tensor values, so it can be captured in a CUDA graph and replayed (issue 23).

One call of the step does, on the device and from its own buffers alone: pick the step's
indices from the epoch's order, gather the uint8 images, crop (zero padding) and flip each
sample, normalise, run the task's forward (rotation copies included), the loss, the
gradients (``torch.autograd.grad``), an SGD update whose learning rates are a device
tensor, and the accumulation of the epoch's metrics. The host only fills the lr tensor when
the schedule changes it, and the epoch's order once per epoch: no recapture for either.

Random draws. Dynamo cannot trace a ``torch.Generator`` argument (torch 2.14: "Failed to
convert args/kwargs to proxy"), so the crop offsets and flips come from a counter-based
hash of (seed, epoch, step, sample) instead of the eager path's per-epoch generator: there
is no generator state to register with a graph or to save for a resume, and a resumed
epoch redraws exactly what an uninterrupted one would. The draws differ from the eager
engine's, so a graph-step run is not bit-identical to an eager one; with augmentation off
the two agree within float rounding (tests/training/test_graph_step.py).

What runs where:

- ``mode="eager"``: the step's body called as is (the reference for the other two).
- ``mode="compile"``: ``torch.compile(fullgraph=True)``. On the CPU this is the honest
  check that the body has no graph breaks and no host syncs (``.item()``, ``.tolist()``,
  branches on tensors): any would make fullgraph compilation fail.
- ``mode="cuda_graph"``: capture with ``torch.cuda.graph`` and replay. NOT YET RUN ON A
  GPU (no GPU was lent while it was written); the CPU checks above are what it rests on.

Not captured (``EAGER_FALLBACKS``): configurations that need the host inside a step are
refused with a RotnetError naming each one, after logging it; the eager ``Engine`` trains
them. The paper's NIN protocol uses none of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Literal

import torch
import torch.nn.functional as F

from rotnet.data.device import DeviceSplit, epoch_seed
from rotnet.errors import RotnetError
from rotnet.params import TrainParams
from rotnet.progress import log
from rotnet.training import memory
from rotnet.training.tasks import Task, targets_of

Mode = Literal["eager", "compile", "cuda_graph"]

# What the captured step cannot do, and why: each is trained by the eager Engine instead.
EAGER_FALLBACKS: dict[str, str] = {
    "cutmix": "CutMix draws its box on the host (a .item() and numpy's Beta sampler) and picks batches in Python",
    "autoaugment": "AutoAugment groups the samples by op with .tolist(), a host sync, and loops over the groups",
    "rangerlars": "RangerLars/Lookahead keep Python step counters and sync the slow weights every k steps",
    "adam": "the captured update is SGD's alone (the paper's optimizer); Adam's is not written yet",
    "adamw": "the captured update is SGD's alone (the paper's optimizer); AdamW's is not written yet",
    "resized_crop": "the random resized crop draws from a torch.Generator, which Dynamo cannot trace; "
    "only the padded crop has counter-based draws",
    "plateau": "the plateau schedule reads the validation loss on the host (it would still work, between "
    "epochs, but is not tested with the captured step)",
    "distributed": "DDP's gradient hooks are not in the captured step",
}


def fallbacks(cfg: TrainParams, distributed: bool = False) -> dict[str, str]:
    """The EAGER_FALLBACKS that ``cfg`` needs (empty: the step can be captured)."""
    used = {
        "cutmix": cfg.augment.cutmix_prob > 0,
        "autoaugment": cfg.augment.autoaugment,
        "rangerlars": cfg.optimizer.name == "rangerlars",
        "adam": cfg.optimizer.name == "adam",
        "adamw": cfg.optimizer.name == "adamw",
        "resized_crop": cfg.augment.resize_scale is not None,
        "plateau": cfg.schedule.name == "plateau",
        "distributed": distributed,
    }
    return {name: EAGER_FALLBACKS[name] for name, on in used.items() if on}


def check_graphable(cfg: TrainParams, desc: str, distributed: bool = False) -> None:
    """Log each eager fallback ``cfg`` needs, then refuse the captured step if there are any."""
    needed = fallbacks(cfg, distributed)
    for name, why in needed.items():
        log(f"{desc}: {name} needs the eager engine: {why}")
    if needed:
        raise RotnetError(
            f"{desc}: the captured training step cannot run {', '.join(needed)}; train with the eager "
            "Engine (rotnet.training.engine), or turn those options off"
        )


# Counter-based draws: a 32-bit integer hash (Wellons' "lowbias"-style mixer with a multiplier
# below 2**27, so every product fits in int64 and nothing relies on overflow).
_MASK = 0xFFFFFFFF
_MUL = 0x45D9F3B
_GOLDEN = 0x9E3779B9
STREAMS = {"crop_y": 0, "crop_x": 1, "flip": 2}


def _mix32(x: torch.Tensor) -> torch.Tensor:
    x = (((x >> 16) ^ x) * _MUL) & _MASK
    x = (((x >> 16) ^ x) * _MUL) & _MASK
    return (x >> 16) ^ x


def draws(key: torch.Tensor, step: torch.Tensor, stream: int, n: int) -> torch.Tensor:
    """``n`` pseudo-random integers in [0, 2**32) (int64) for ``stream`` at ``step`` of the
    epoch whose ``key`` is given: a pure function of its inputs, on their device."""
    base = _mix32((key ^ _mix32((step * 16 + stream) & _MASK)) & _MASK)
    i = torch.arange(n, device=key.device, dtype=torch.int64)
    return _mix32((base + i * _GOLDEN) & _MASK)


def crop_at(x: torch.Tensor, padding: int, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Zero-pad by ``padding``, then crop the original size at offsets (dy, dx) per sample
    (rotnet.data.augment.random_crop with the offsets given)."""
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def sgd_update(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    bufs: list[torch.Tensor],
    lr: torch.Tensor,
    momentum: float,
    weight_decay: float,
    nesterov: bool,
) -> None:
    """torch.optim.SGD's update (dampening 0) with the lr a 0-dim device tensor, in foreach
    ops that never read it on the host: eager torch SGD turns a tensor lr into an ``alpha``
    scalar, a sync that a capture refuses. The momentum buffers start at zero, which gives
    torch's first step exactly (its buffer starts as the first gradient)."""
    with torch.no_grad():
        if weight_decay:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
        if momentum:
            torch._foreach_mul_(bufs, momentum)
            torch._foreach_add_(bufs, grads)
            grads = torch._foreach_add(grads, bufs, alpha=momentum) if nesterov else bufs
        torch._foreach_add_(params, torch._foreach_mul(grads, -lr))


class GraphStep:
    """The training step of ``task`` on ``split`` as one static function (see the module).

    Build it after the task's modules are on the device and after any resume state is loaded
    into ``optimizer`` (it holds the optimizer's momentum buffers). ``task`` must not be
    compiled itself (``task.compile``): the whole step is compiled or captured here.

    Each compiled GraphStep adds a cache entry to ``body``'s code object, and Dynamo's
    ``recompile_limit`` (8 in torch 2.14) bounds them: the ninth compiled GraphStep of one
    process fails loudly (FailOnRecompileLimitHit under fullgraph), never silently eager.
    """

    def __init__(
        self,
        task: Task,
        split: DeviceSplit,
        cfg: TrainParams,
        optimizer: torch.optim.Optimizer,
        steps_per_epoch: int,
        micro: int | None = None,
        mode: Mode = "eager",
        backend: str | Callable = "inductor",
        amp: bool = True,
        desc: str = "graph step",
    ) -> None:
        check_graphable(cfg, desc)
        if not isinstance(optimizer, torch.optim.SGD):
            raise RotnetError(f"{desc}: the captured step updates with SGD only, got {type(optimizer).__name__}")
        if task.compiled is not None:
            raise RotnetError(f"{desc}: the task is compiled already; the graph step compiles the whole step itself")
        if steps_per_epoch < 1:
            raise RotnetError(f"{desc}: an epoch needs at least one step, got {steps_per_epoch}")
        device = split.images.device
        self.task, self.split, self.cfg, self.optimizer, self.desc = task, split, cfg, optimizer, desc
        self.device, self.amp = device, amp
        self.batch = cfg.batch_size
        self.steps = steps_per_epoch
        self.sizes = memory.split_sizes(self.batch, micro)  # the static micro-batch plan
        self.outputs = task.train_outputs
        self.weights = [task.loss_weight(o) for o in self.outputs]
        # Static buffers: the step reads and writes only these (and the model's tensors).
        self.order = torch.zeros(steps_per_epoch * self.batch, dtype=torch.int64, device=device)
        self.pos = torch.zeros((), dtype=torch.int64, device=device)  # step within the epoch
        self.key = torch.zeros((), dtype=torch.int64, device=device)  # the epoch's draw key
        self.arange = torch.arange(self.batch, device=device)
        self.metrics = torch.zeros(3, len(self.outputs), dtype=torch.float64, device=device)
        self.first_bad = torch.full((1,), -1.0, dtype=torch.float64, device=device)
        groups = optimizer.param_groups
        self.lr = torch.tensor([float(g["lr"]) for g in groups], dtype=torch.float32, device=device)
        self._lrs = [float(g["lr"]) for g in groups]  # what self.lr holds, on the host
        self.groups: list[tuple[list[torch.Tensor], list[torch.Tensor], float, float, bool]] = []
        for g in groups:
            if g.get("dampening", 0) or g.get("maximize", False):
                raise RotnetError(f"{desc}: the captured SGD update has no dampening or maximize")
            params = list(g["params"])
            bufs = []
            if g["momentum"]:
                for p in params:
                    state = optimizer.state[p]
                    if state.get("momentum_buffer") is None:
                        state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    bufs.append(state["momentum_buffer"])
            self.groups.append((params, bufs, float(g["momentum"]), float(g["weight_decay"]), bool(g["nesterov"])))
        self.params = [p for params, *_ in self.groups for p in params]
        self.mode = mode
        self._run: Callable[[], torch.Tensor] = self.body
        self.graph: torch.cuda.CUDAGraph | None = None
        self.loss: torch.Tensor | None = None  # the last step's loss (the graph's static output)
        if mode == "compile":
            self._run = torch.compile(self.body, fullgraph=True, backend=backend)
        elif mode == "cuda_graph" and device.type != "cuda":
            raise RotnetError(f"{desc}: mode cuda_graph needs a CUDA device, the data is on {device}")

    # -- the host's side: once per epoch, and when the lr changes ---------------------------

    def start_epoch(self, seed: int, epoch: int, epoch_size: int | None = None) -> None:
        """The epoch's batch order (the eager engine's, from the same seed), its draw key, and
        zeroed metrics: in-place copies into the static buffers, so no recapture."""
        order = self.split._order(seed, epoch, epoch_size)[: len(self.order)]
        if len(order) < len(self.order):
            need = len(self.order)
            raise RotnetError(f"{self.desc}: the epoch has {len(order)} images, fewer than its {need} steps need")
        self.order.copy_(order)
        self.pos.zero_()
        self.key.fill_(epoch_seed(seed, epoch, 1) & _MASK)  # the eager engine's augmentation stream (rank 0)
        self.metrics.zero_()
        self.first_bad.fill_(-1.0)

    def sync_lr(self) -> None:
        """Copy the optimizer's lrs (set by the schedule on the host) into the lr tensor; only
        the groups that changed, each with a fill (a kernel launch, no sync)."""
        for i, g in enumerate(self.optimizer.param_groups):
            lr = float(g["lr"])
            if lr != self._lrs[i]:
                self.lr[i].fill_(lr)
                self._lrs[i] = lr

    def step(self) -> torch.Tensor:
        """One training step; returns the loss (a device tensor: reading it syncs)."""
        self.sync_lr()
        if self.mode == "cuda_graph":
            if self.graph is None:
                self.capture()
            assert self.graph is not None and self.loss is not None
            self.graph.replay()
            return self.loss
        with _tracing_autograd():
            return self._run()

    # -- the device's side: the whole step, static -------------------------------------------

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """The padded crop and the flip of ``cfg.augment``, from the counter-based draws."""
        aug = self.cfg.augment
        n = images.shape[0]
        x = images
        if aug.crop_padding:
            span = 2 * aug.crop_padding + 1
            dy = draws(self.key, self.pos, STREAMS["crop_y"], n) % span
            dx = draws(self.key, self.pos, STREAMS["crop_x"], n) % span
            x = crop_at(x, aug.crop_padding, dy, dx)
        if aug.flip:
            flip = (draws(self.key, self.pos, STREAMS["flip"], n) & 1).bool()
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x

    def body(self) -> torch.Tensor:
        """Data path, forward, loss, gradients, SGD update and metrics of one step."""
        idx = self.order.index_select(0, self.pos * self.batch + self.arange)
        x = self.split.normalize(self.augment(self.split.images.index_select(0, idx)))
        y = self.split.labels.index_select(0, idx)
        grads: list[torch.Tensor] | None = None
        total = torch.zeros((), dtype=torch.float32, device=self.device)
        start = 0
        for size in self.sizes:
            share = size / self.batch
            xs, ys = x[start : start + size], y[start : start + size]
            start += size
            with self._autocast():
                logits, targets = self.task.forward(xs, ys)
                losses = [
                    F.cross_entropy(logits[o].float(), targets_of(targets, o), label_smoothing=self.cfg.label_smoothing)
                    for o in self.outputs
                ]
                loss = sum(w * v for w, v in zip(self.weights, losses, strict=True))
            if len(self.sizes) > 1:
                loss = loss * share
            micro_grads = torch.autograd.grad(loss, self.params)
            grads = list(micro_grads) if grads is None else torch._foreach_add(grads, micro_grads)
            total = total + loss.detach()
            with torch.no_grad():
                hits = [(logits[o].argmax(1) == targets_of(targets, o)).sum() for o in self.outputs]
                # Filled on the device: a host list turned into a tensor would be a copy that capture refuses.
                counts = [hits[0].new_full((), targets_of(targets, o).shape[0]) for o in self.outputs]
                rows = [torch.stack(losses).detach().double() * share, torch.stack(hits), torch.stack(counts)]
                self.metrics.add_(torch.stack([r.double() for r in rows]))
        assert grads is not None
        first = 0
        for i, (params, bufs, momentum, decay, nesterov) in enumerate(self.groups):
            mine = grads[first : first + len(params)]
            first += len(params)
            sgd_update(params, mine, bufs, self.lr[i], momentum, decay, nesterov)
        with torch.no_grad():
            bad = (self.first_bad < 0) & ~torch.isfinite(total)
            self.first_bad.copy_(torch.where(bad, (self.pos + 1).double(), self.first_bad))
            self.pos.add_(1)
        return total

    def _autocast(self) -> contextlib.AbstractContextManager:
        # bf16 on CUDA with runtime.amp, as the engine's runtime.autocast; the cache off, as
        # graph capture needs.
        if self.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
        return contextlib.nullcontext()

    # -- CUDA graph capture: NOT YET RUN ON A GPU -------------------------------------------

    def capture(self, warmup: int = 3) -> None:
        """Capture ``body`` in a CUDA graph (NOT YET RUN ON A GPU: written to torch's
        documented whole-network recipe, tested only through the CPU checks). The warm-up
        steps run on a side stream, as capture requires, and leave no trace: every tensor
        the step writes is restored in place afterwards, so the captured addresses hold."""
        if self.device.type != "cuda":
            raise RotnetError(f"{self.desc}: CUDA graph capture needs a CUDA device, not {self.device}")
        with self._leaving_no_trace():
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(warmup):
                    self.body()
            torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.loss = self.body()
        # Capture records the step without running it: the buffers are as before.
        self.graph = graph

    def _state_tensors(self) -> Iterator[torch.Tensor]:
        for module in self.task.modules():
            yield from module.parameters()
            yield from module.buffers()
        for _, bufs, *_ in self.groups:
            yield from bufs
        yield from (self.pos, self.metrics, self.first_bad)

    @contextlib.contextmanager
    def _leaving_no_trace(self) -> Iterator[None]:
        tensors = list(self._state_tensors())
        saved = [t.detach().clone() for t in tensors]
        yield
        with torch.no_grad():
            for t, s in zip(tensors, saved, strict=True):
                t.copy_(s)


@contextlib.contextmanager
def _tracing_autograd() -> Iterator[None]:
    """Dynamo traces ``torch.autograd.grad`` only with this flag (torch 2.14); eager ignores it."""
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        yield
