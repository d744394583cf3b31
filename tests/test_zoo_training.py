"""Every registered backbone trains under the committed recipes (params.yaml as it is).

For each backbone, the start of each training stage's default recipe (its optimizer, lr,
warm-up, label smoothing and augmentation, with the backbone's own recipe merged in) runs
for a few dozen steps on synthetic 16x16 images: supervised training and RotNet
pretraining from scratch, then fine-tuning and the probes from the pretrained weights. The
training loss must end clearly below where it started and never rise far above it (what a
too-high lr or an exploding deep net does: EfficientNet-B5 under the paper's SGD ended its
first epoch at a loss of 30.9 on 3 classes).

Each recipe runs its warm-up epochs and then at least three more, 4 steps an epoch, under
its full-length schedule, so the lr reaches its peak. Sized for two CPU cores: NIN at width
16, the ResNets at width 8, every EfficientNet at ``width_multiplier: 0.25`` (a quarter of
its own channels, its full depth); every other option is the committed one. Steps are small
(16 samples), so they are noisier than at the committed 128, never easier.

EfficientNet-B1..B7 share B0's blocks and recipe; their depth makes them slow here (B7, 55
blocks, takes about 4x B0's time; the seven about 3 minutes), so they carry the ``zoo``
mark, as does ResNet-152 (not in the committed study, and the slowest ResNet): `make test`
leaves them out (it says how many), `make zoo-test` runs them all. Before their
``zero_init_last`` (params.yaml), B5 and B7's rotation loss stayed at chance here.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rotnet.data.device import DeviceDataset
from rotnet.models.registry import create_backbone, list_backbones
from rotnet.params import Params, load_params
from rotnet.probing.heads import conv_head_layer, map_shape, with_head
from rotnet.probing.task import probe_heads, probe_task
from rotnet.training.engine import Engine
from rotnet.training.tasks import FinetuneTask, RotationTask, SupervisedTask, Task
from tests import synthetic

ROOT = Path(__file__).resolve().parents[1]
LOG = logging.getLogger(__name__)
SHRINK = {"nin": {"width": 16}, "resnet": {"width": 8}, "efficientnet": {"width_multiplier": 0.25}}
STEPS_PER_EPOCH = 4
MIN_EPOCHS = 6  # so every recipe takes at least 24 steps
BATCH = 16  # samples per step (pretraining: 4 images x 4 rotations)
CLASSES = 4
RISE = 2.0  # no epoch's mean loss may reach this multiple of the start
DROP = 0.85  # the last epoch's mean loss must be below this multiple of the start


@pytest.fixture(scope="module")
def params() -> Params:
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def data() -> DeviceDataset:
    prepared = synthetic.dataset(n_train=256, n_val=32, n_test=32, classes=CLASSES, size=16)
    return DeviceDataset.from_prepared(prepared, torch.device("cpu"))


@pytest.fixture(autouse=True)
def _seeded_one_thread() -> Iterator[None]:
    # Maps this small run faster on one intra-op thread: a second one only adds sync cost.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _options(params: Params, name: str) -> dict:
    family = next(f for f in SHRINK if name.startswith(f))
    return {**params.backbone_options(name), **SHRINK[family]}


def _start_loss(task: Task, engine: Engine, cfg, batch_size: int) -> float:
    """The untrained task's loss on a training batch, in training mode, on a copy: its
    BatchNorm statistics and the random stream stay as they were."""
    probe = copy.deepcopy(task)
    with torch.random.fork_rng(), torch.no_grad():
        probe.train()
        batch = next(iter(engine.data.train.train_batches(batch_size, cfg.augment, task.num_classes, 1, 1)))
        logits, targets = probe.forward(batch.x, batch.y)
        losses = [F.cross_entropy(lg, targets, label_smoothing=cfg.label_smoothing) for lg in logits.values()]
    return float(sum(losses)) / len(losses)


def trial(engine: Engine, task: Task, cfg, name: str) -> tuple[float, list[float]]:
    """The first epochs of ``cfg`` (its warm-up, then at least three), a few steps each; the
    schedule still spans its full length. The untrained loss, then each epoch's mean loss."""
    images = BATCH // getattr(task, "samples_per_image", 1)
    epochs = max(MIN_EPOCHS, math.ceil(cfg.schedule.warmup_epochs) + 3)
    short = cfg.model_copy(update={"batch_size": images, "epoch_size": STEPS_PER_EPOCH * images})
    start = _start_loss(task, engine, short, images)
    losses: list[float] = []
    engine.fit(task, short, seed=1, desc=name, on_epoch=lambda row: losses.append(row["train_loss"]), stop_after=epochs)
    return start, losses


def check(result: tuple[float, list[float]], what: str) -> None:
    start, epochs = result
    shown = f"{what}: untrained {start:.3f}, epoch means {[round(x, 3) for x in epochs]}"
    LOG.info(shown)  # the figures behind README's table: pytest -o log_cli=true --log-cli-level=INFO
    assert all(math.isfinite(x) for x in epochs), shown
    assert max(epochs) < RISE * start, f"the loss rose far above its start; {shown}"
    assert epochs[-1] < DROP * start, f"the loss did not come down; {shown}"


DEEP = {f"efficientnet_b{i}" for i in range(1, 8)}


def _case(name: str) -> object:
    if name in DEEP or name == "resnet152":  # slow here; ResNet-152 is not in the committed study
        return pytest.param(name, marks=pytest.mark.zoo)
    return name


BACKBONES = [_case(n) for n in list_backbones()]


def _engine(params: Params, data: DeviceDataset) -> Engine:
    return Engine(data, params.runtime.model_copy(update={"device": "cpu"}), torch.device("cpu"))


def test_every_registered_backbone_is_in_the_zoo_test():
    assert len(BACKBONES) == len(list_backbones()) == 14


@pytest.mark.parametrize("name", BACKBONES)
def test_supervised_recipe_trains(name, params, data):
    model = create_backbone(name, CLASSES, options=_options(params, name))
    check(
        trial(_engine(params, data), SupervisedTask(model, CLASSES), params.recipe("supervised", name), name),
        "supervised",
    )


@pytest.mark.parametrize("name", BACKBONES)
def test_pretrain_then_finetune_and_probe_recipes_train(name, params, data):
    engine = _engine(params, data)
    cfg = params.recipe("pretrain", name)
    rotnet = create_backbone(name, len(cfg.rotations), options=_options(params, name))
    check(trial(engine, RotationTask(rotnet, cfg.rotations), cfg, name), "pretrain")

    # From the pretrained weights: the paper's fine-tuning network and every probe head.
    cfg = params.recipe("finetune", name)
    layer = conv_head_layer(params.probe.conv_layers, rotnet.feature_names)
    shape = map_shape(rotnet, layer, 3, (16, 16))
    net = with_head(copy.deepcopy(rotnet), layer, cfg.heads[0], CLASSES, shape, cfg.hidden)  # conv, the first
    check(trial(engine, FinetuneTask(net, CLASSES, cfg.backbone_lr_scale), cfg, name), "finetune")  # type: ignore[arg-type]

    cfg = params.recipe("probe", name)
    heads, layers = probe_heads(rotnet, cfg, 3, (16, 16), CLASSES, name)
    check(trial(engine, probe_task(heads, layers, rotnet, cfg, CLASSES), cfg, name), "probe")
