"""Typed, validated parameters read from params.yaml.

Every knob of the study lives in params.yaml. ``load_params`` turns it into frozen
pydantic models and converts validation failures into one RotnetError that names
each bad key, what is wrong with it and how to fix it.
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rotnet.corruption_names import CORRUPTION_NAMES, SEVERITIES
from rotnet.errors import RotnetError

# The small-input comparison's second choice, defined here so that it always resolves.
BUILTIN_BACKBONES: dict[str, dict[str, Any]] = {
    "efficientnet_b0_upsample": {"arch": "efficientnet_b0", "small_input": "upsample", "upsample_size": 128},
    "nin3": {"arch": "nin", "blocks": 3},  # the official supervised NIN and semi-supervised scratch arm
}
DATASET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class Strict(BaseModel):
    """Base for every params section: unknown keys are errors (they are usually typos)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StudyParams(Strict):
    datasets: list[str] = Field(default_factory=lambda: ["cifar10"], min_length=1)
    backbones: list[str] = Field(default_factory=lambda: ["nin", "resnet18"], min_length=1)
    # Backbones trained with labels only (the baseline stage), for reference rows: nin3 is
    # the paper's supervised NIN (92.80). They get no RotNet, probes or fine-tuning.
    baselines: list[str] = Field(default_factory=list)
    # Training seeds: every training stage runs once per seed (weights, data order and
    # augmentation); the train/val split stays fixed by the top-level `seed`. With several,
    # every figure is the mean over seeds with its std beside it.
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    # Self-supervised methods beside RotNet (the pretrain stage), on the same backbones, data
    # and probes: each gets its own pretraining (ssl_pretrain@<dataset>-<backbone>-<method>) and
    # probes (ssl_probe); its recipe is the params section of its name. [] runs RotNet alone.
    methods: list[Literal["simclr", "byol"]] = Field(default_factory=lambda: ["simclr", "byol"])

    @model_validator(mode="after")
    def _baselines_apart(self) -> StudyParams:
        if len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be distinct integers >= 0, got {self.seeds}")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods must not repeat, got {self.methods}")
        both = sorted(set(self.baselines) & set(self.backbones))
        if both:
            raise ValueError(f"{both} are in both study.backbones and study.baselines; keep each in one list")
        return self


class RuntimeParams(Strict):
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    amp: bool = True  # bf16 autocast on CUDA; ignored on the CPU where bf16 is slow
    channels_last: bool = True  # faster convolutions on CUDA and on the CPU (oneDNN)
    compile: bool = False
    eval_batch_size: int = Field(512, ge=1)
    threads: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(1, ge=1)  # epochs between resumable checkpoints
    resume: bool = True  # continue an unfinished run from its checkpoint (false: start fresh)
    # Images per micro-batch of a step (gradients summed over them; BatchNorm sees one at a
    # time): null, the whole batch; auto, the largest that fits (rotnet.training.memory).
    micro_batch: int | Literal["auto"] | None = None

    @field_validator("micro_batch")
    @classmethod
    def _positive_micro_batch(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 1:
            raise ValueError("must be >= 1, auto, or null (the whole batch)")
        return value


class DistributedParams(Strict):
    """Processes per stage, started by torchrun (or srun) when more than one is asked for.

    batch_size everywhere is the global batch (split evenly across processes) and lr is
    the lr of that global batch, so results do not depend on the process count.
    DVC runs on one node, node 0, which holds global rank 0 (the only writer); a stage
    started there starts the job on every node (rotnet.stages.nodes, rotnet.stages.slurm).
    """

    nproc_per_node: int = Field(1, ge=1)  # processes on each machine (one per GPU)
    nnodes: int = Field(1, ge=1)
    # torchrun: on the DVC node; the other nodes run `rotnet worker`. srun: inside a SLURM
    # allocation, from its first node (sbatch's), one task per process.
    launcher: Literal["torchrun", "srun"] = "torchrun"
    rdzv_backend: str = "c10d"  # nnodes > 1 with torchrun needs static: it alone pins rank 0 to node 0
    rdzv_endpoint: str = Field("localhost:29500", pattern=r"^[^:\s]+:\d+$")  # host:port of node 0 (DVC's)
    rdzv_id: str = "rotnet"
    worker_timeout_s: float = Field(600, gt=0)  # how long node 0 waits for each `rotnet worker`
    sync_bn: bool = False  # SyncBatchNorm across processes (CUDA only)

    @model_validator(mode="before")
    @classmethod
    def _no_node_rank(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "node_rank" in raw:
            raise ValueError(
                "node_rank is gone: DVC's node is always node 0; start each other node with "
                "`rotnet worker --endpoint HOST:PORT --node-rank R` (docs/operations.md); remove the key"
            )
        return raw

    @model_validator(mode="after")
    def _static_across_nodes(self) -> DistributedParams:
        if self.nnodes > 1 and self.launcher == "torchrun" and self.rdzv_backend != "static":
            raise ValueError(
                f"rdzv_backend {self.rdzv_backend} with nnodes > 1 may give global rank 0, the only writer, to a "
                "node DVC does not run on; set distributed.rdzv_backend: static (or launcher: srun)"
            )
        return self

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.rdzv_endpoint.rsplit(":", 1)
        return host, int(port)


class DatasetParams(Strict):
    # What data/raw/<name> holds (`rotnet data add` puts it there; DVC tracks it by content,
    # so no param names where a copy sits). download: the official files, checksum-checked
    # (cifar10, fashion_mnist; `rotnet data add <name>` without a path fetches them);
    # cifar-archive: a copy of the official CIFAR python archive; idx: a folder with the four
    # official Fashion-MNIST IDX files (.gz or not); imagefolder: a folder or .tar.gz/.tgz/.zip
    # with train/<class>/*, test/<class>/* and optionally val/<class>/* (then used as the
    # validation split instead of carving one).
    source: Literal["download", "cifar-archive", "idx", "imagefolder"] = "download"
    val_size: int = Field(5000, ge=1)  # images carved from train, stratified by class
    train_per_class: int | None = Field(None, ge=1)  # keep only the first N train images per class
    # The validation carve never takes the first N training images of each class (source
    # order), so every semi-supervised subset of K <= N labels per class is exactly the first
    # K of each class: the official subsets. Must be >= every semisup.labels_per_class when set;
    # None: carve from every image (semisup then uses the first K the carve left).
    keep_first_per_class: int | None = Field(None, ge=1)
    resize: int | None = Field(None, ge=8)  # resize to resize x resize; None: keep, sizes must match
    pad_to: int | None = Field(None, ge=8)  # zero-pad (centred) to pad_to x pad_to, after any resize
    # 1: grayscale, 3: RGB (gray images replicated), None: as the source is (gray only if all are).
    channels: Literal[1, 3] | None = None
    skip_unreadable: bool = False  # skip (and count in meta) files that are not readable images
    max_files: int = Field(2_000_000, ge=1)  # archives/folders with more files are refused
    max_total_mb: float = Field(20_000, gt=0)  # ... or with more uncompressed data than this
    # A folder with the published CIFAR-10-C .npy files: the robustness stage reads those
    # instead of regenerating its corruptions (rotnet.data.corruptions).
    corruptions: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_path(cls, raw: Any) -> Any:
        gone = sorted({"path", "download_dir"} & set(raw)) if isinstance(raw, dict) else []
        if gone:
            raise ValueError(
                f"'{gone[0]}' is gone: a dataset's files enter the project with `rotnet data add <dataset> PATH` "
                "(data/raw/<dataset>, tracked by DVC by content, so results do not depend on where a copy sat); "
                f"remove {' and '.join(repr(k) for k in gone)}"
            )
        return raw

    @model_validator(mode="after")
    def _pad_fits(self) -> DatasetParams:
        if self.resize and self.pad_to and self.pad_to < self.resize:
            raise ValueError(f"pad_to ({self.pad_to}) must be >= resize ({self.resize})")
        return self


class OptimizerParams(Strict):
    # sgd (Nesterov by default, the paper), adam, adamw, rangerlars (RAdam + LARS-style
    # layer-wise trust ratio + Lookahead).
    name: Literal["sgd", "adam", "adamw", "rangerlars"] = "sgd"
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)  # sgd only
    nesterov: bool = True  # sgd only
    betas: tuple[float, float] = (0.9, 0.999)  # adam, adamw, rangerlars
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(5e-4, ge=0)
    # Weight decay on biases and normalisation weights too: the official code decays every
    # parameter; modern recipes do not, since it only shrinks scales that BN restores.
    decay_norm_and_bias: bool = True
    lookahead_k: int = Field(6, ge=1)  # rangerlars: slow-weights sync period
    lookahead_alpha: float = Field(0.5, gt=0, le=1)  # rangerlars: slow-weights step

    @model_validator(mode="after")
    def _betas(self) -> OptimizerParams:
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must each be in [0, 1), got {list(self.betas)}")
        return self


class ScheduleParams(Strict):
    # step: lr x gamma at each milestone epoch (the paper); cosine: to min_lr_ratio x lr;
    # onecycle: warm up to lr over pct_start of training, then anneal (Smith's 1cycle);
    # cyclic: triangular cycles between min_lr_ratio x lr and lr, cycle_epochs long;
    # plateau: lr x gamma when the validation loss stops improving for `patience` epochs.
    name: Literal["step", "cosine", "onecycle", "cyclic", "plateau"] = "step"
    milestones: list[int] = Field(default_factory=lambda: [60, 120, 160])
    gamma: float = Field(0.2, gt=0, lt=1)
    warmup_epochs: float = Field(0, ge=0)  # linear warm-up for step, cosine, plateau
    min_lr_ratio: float = Field(0.0, ge=0, lt=1)  # cosine floor, cyclic low end
    pct_start: float = Field(0.3, gt=0, lt=1)  # onecycle
    cycle_epochs: float = Field(10, gt=0)  # cyclic
    patience: int = Field(5, ge=0)  # plateau
    threshold: float = Field(1e-4, ge=0)  # plateau: relative improvement that counts

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleParams:
        if any(b <= a for a, b in zip(self.milestones, self.milestones[1:], strict=False)):
            raise ValueError(f"milestones must be strictly increasing, got {self.milestones}")
        if any(m < 1 for m in self.milestones):
            raise ValueError(f"milestones are epochs and must be >= 1, got {self.milestones}")
        if self.name in ("onecycle", "cyclic") and self.warmup_epochs:
            raise ValueError(f"the {self.name} schedule has its own warm-up; set warmup_epochs: 0")
        return self


class AugmentParams(Strict):
    crop_padding: int = Field(4, ge=0)  # random crop of the original size after zero padding
    flip: bool = True  # random horizontal flip
    # Random resized crop: area scale range of the crop, resized back to the image size.
    resize_scale: tuple[float, float] | None = None
    autoaugment: bool = False  # AutoAugment, CIFAR-10 policy, drawn per sample
    cutmix_prob: float = Field(0.0, ge=0, le=1)  # chance that a batch gets CutMix
    cutmix_alpha: float = Field(1.0, gt=0)  # Beta(alpha, alpha) for the pasted area

    @model_validator(mode="after")
    def _scale(self) -> AugmentParams:
        if self.resize_scale is not None:
            lo, hi = self.resize_scale
            if not 0 < lo <= hi <= 1:
                raise ValueError(f"resize_scale must satisfy 0 < low <= high <= 1, got {list(self.resize_scale)}")
        return self


class TrainParams(Strict):
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(128, ge=1)
    # Source images per epoch, drawn by cycling seeded permutations of the training set
    # (the official code's fixed epoch of 50,000 samples, whatever the labelled set's
    # size); null: one pass. Either way an epoch is epoch_size // batch_size full batches.
    epoch_size: int | None = Field(None, ge=1)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    optimizer: OptimizerParams = OptimizerParams()
    schedule: ScheduleParams = ScheduleParams()
    augment: AugmentParams = AugmentParams()

    @model_validator(mode="after")
    def _schedule_fits(self) -> TrainParams:
        sch = self.schedule
        if sch.name == "step" and any(m >= self.epochs for m in sch.milestones):
            raise ValueError(
                f"schedule.milestones {sch.milestones} must be < epochs ({self.epochs}); "
                "lower them together with epochs"
            )
        if sch.warmup_epochs >= self.epochs:
            raise ValueError(f"schedule.warmup_epochs must be < epochs ({self.epochs})")
        if sch.name == "cyclic" and sch.cycle_epochs > self.epochs:
            raise ValueError(f"schedule.cycle_epochs ({sch.cycle_epochs}) must be <= epochs ({self.epochs})")
        return self


def _angle_set(v: list[int]) -> list[int]:
    bad = [a for a in v if a % 45 or not 0 <= a < 360]
    if bad:
        raise ValueError(f"angles must be multiples of 45 in [0, 360) (0, 45, ..., 315); {bad} are not")
    if len(set(v)) != len(v):
        raise ValueError(f"angles must be unique; remove the repeated {sorted({a for a in v if v.count(a) > 1})}")
    if len(v) < 2:
        raise ValueError("needs at least 2 angles (a task with one answer teaches nothing), e.g. [0, 180]")
    if v != sorted(v):
        raise ValueError(f"list the angles in increasing order: {sorted(v)} (label i is the i-th angle)")
    return v


class PretrainParams(TrainParams):
    # The angles (degrees, counter-clockwise) each image is shown at; the paper's Table 2
    # also trains on [0, 180], [90, 270] and the 8 multiples of 45 (rotnet.rotation).
    rotations: list[int] = Field(default_factory=lambda: [0, 90, 180, 270])
    # Which weights the RotNet keeps, and so what probes, fine-tuning and semisup read:
    # best: the epoch with the best validation rotation accuracy; last: the final epoch, as
    # the official code's probes read (its epoch 200; profiles/paper.yaml).
    checkpoint: Literal["best", "last"] = "best"
    # The inscribed-circle mask on every copy (rotnet.rotation): auto = only when the set has
    # a non-right angle (its corners would give the angle away); circle = always (the "4
    # rotations + mask" control); none = never. The model file records it, so the probes,
    # predict and orient show the model its inputs masked as it saw them.
    mask: Literal["auto", "circle", "none"] = "auto"

    _angles = field_validator("rotations")(classmethod(lambda cls, v: _angle_set(v)))

    @model_validator(mode="after")
    def _rotation_safe(self) -> PretrainParams:
        # CutMix pastes a patch of another image, maybe at another rotation: the rotation
        # label of the result is no longer true, so the pretext task would learn noise.
        if self.augment.cutmix_prob > 0:
            raise ValueError("augment.cutmix_prob must be 0 for rotation pretraining: CutMix mixes rotations")
        return self


class MethodParams(TrainParams):
    """SimCLR's or BYOL's pretraining (study.methods), as lightly's CIFAR-10 benchmark runs it
    (rotnet.methods.recipes names the source): SGD, lr 0.06 per 128 images, cosine, batch 512.
    The two views replace ``augment`` (rotnet.data.views, the method's recipe), and the batch is
    one piece (NT-Xent's negatives), so those training keys are refused rather than ignored."""

    batch_size: int = Field(512, ge=2)
    optimizer: OptimizerParams = OptimizerParams(lr=0.24, nesterov=False)
    schedule: ScheduleParams = ScheduleParams(name="cosine", milestones=[])
    # The weights kept: best = the epoch with the best validation kNN accuracy (below), last =
    # the final epoch's, as lightly's benchmark trains (it reports its best *test* epoch).
    checkpoint: Literal["best", "last"] = "best"
    # The kNN monitor each epoch, on validation (the training split is the memory bank), and
    # the figure at the kept weights on test: lightly's k = 200, T = 0.1 on pooled features.
    knn_k: int = Field(200, ge=1)
    knn_temperature: float = Field(0.1, gt=0)

    @model_validator(mode="after")
    def _views_not_augment(self) -> MethodParams:
        if self.augment != AugmentParams():
            raise ValueError("augment does not apply: the method's two views are its augmentation (docs/methods.md)")
        if self.label_smoothing:
            raise ValueError("label_smoothing does not apply to SimCLR or BYOL (no labels); remove it")
        if self.schedule.name == "plateau":
            raise ValueError("schedule plateau needs a validation loss, which SimCLR and BYOL do not have")
        return self


class SimCLRParams(MethodParams):
    temperature: float = Field(0.5, gt=0)  # NT-Xent's (lightly's NTXentLoss default)
    # The projector: Linear-BN-ReLU-Linear-BN (lightly's SimCLRProjectionHead(512, 512, 128)).
    projector_hidden: int = Field(512, ge=1)
    projector_out: int = Field(128, ge=1)


class BYOLParams(MethodParams):
    # Projector and predictor: Linear-BN-ReLU-Linear (lightly's BYOL heads, 1024 -> 256).
    projector_hidden: int = Field(1024, ge=1)
    projector_out: int = Field(256, ge=1)
    predictor_hidden: int = Field(1024, ge=1)
    # The target network's EMA momentum: from start to end on a half cosine over every step
    # (BYOL's schedule); lightly's CIFAR-10 benchmark keeps it at 0.99 (start == end).
    momentum_start: float = Field(0.99, ge=0, le=1)
    momentum_end: float = Field(0.99, ge=0, le=1)


class SupervisedRotParams(TrainParams):
    """Supervised training with rotations as extra supervision (supervised_rot stage).

    multitask: a second head predicts each copy's rotation; loss = class loss on the upright
      copies + weight x rotation loss on all copies (Hendrycks et al. 2019);
    joint: one head over (class, rotation) pairs, trained on every copy; tested by averaging
      the copies' log-probabilities of (class, their rotation) (Lee, Hwang and Shin 2020).
    """

    mode: Literal["multitask", "joint"] = "multitask"
    weight: float = Field(1.0, ge=0)  # multitask: the rotation loss's weight (joint has one loss)
    # Every image is shown at each angle; the first must be 0 (the upright copy).
    rotations: list[int] = Field(default_factory=lambda: [0, 90, 180, 270])
    # Which weights the RotNet keeps, and so what probes, fine-tuning and semisup read:
    # best: the epoch with the best validation rotation accuracy; last: the final epoch, as
    # the official code's probes read (its epoch 200; profiles/paper.yaml).
    checkpoint: Literal["best", "last"] = "best"

    _angles = field_validator("rotations")(classmethod(lambda cls, v: _angle_set(v)))

    @model_validator(mode="after")
    def _rotations_and_mixing(self) -> SupervisedRotParams:
        if self.rotations[0] != 0:
            raise ValueError(
                f"rotations must start with 0, the upright copy classes are read from; got {self.rotations}"
            )
        # CutMix pastes a patch of another image, maybe at another rotation and of another
        # class: neither the rotation label nor a joint (class, rotation) label stays true.
        if self.augment.cutmix_prob > 0:
            raise ValueError("augment.cutmix_prob must be 0: CutMix mixes rotations, so rotation labels would be false")
        return self


class ProbeParams(TrainParams):
    epochs: int = Field(100, ge=1)
    heads: list[Literal["nonlinear", "linear", "conv"]] = Field(
        default_factory=lambda: ["nonlinear", "linear", "conv"], min_length=1
    )
    hidden: int = Field(200, ge=1)  # width of the paper's FC-BN-ReLU layers
    # The paper's conv head (a fresh NIN block 3 + pooling + linear) is costly on large
    # maps; it goes only on these feature maps, where a backbone has them.
    conv_layers: list[str] = Field(default_factory=lambda: ["block2"])
    # The weighted kNN probe (no training): k and temperature T are chosen per feature map
    # on validation from these grids. They span the usual choices: InstDisc and solo-learn
    # use k=200, T=0.07; lightly k=200, T=0.1. A k above the training set's size is
    # clamped to it, not an error.
    knn_k: list[int] = Field(default_factory=lambda: [10, 20, 50, 100, 200], min_length=1)
    knn_temperature: list[float] = Field(default_factory=lambda: [0.05, 0.07, 0.1, 0.2], min_length=1)
    # The official heads drop their lr at different epochs (non-linear 20/40/45, conv
    # 35/70/85): a head kind listed here keeps its own step milestones; the others follow
    # schedule.milestones. Every head still reads the same frozen forward pass.
    head_milestones: dict[Literal["nonlinear", "linear", "conv"], list[int]] = Field(default_factory=dict)
    # The report's picture of the features: a t-SNE of this many test images (a fixed,
    # class-stratified subset, the same for every method) at the best map; 0: none.
    tsne_images: int = Field(3000, ge=0)

    @model_validator(mode="after")
    def _knn_grids(self) -> ProbeParams:
        for kind, ms in self.head_milestones.items():
            where = f"head_milestones.{kind}"
            if self.schedule.name != "step":
                raise ValueError(f"{where} needs schedule.name: step (got {self.schedule.name}); or remove it")
            if any(b <= a for a, b in pairwise(ms)) or any(m < 1 for m in ms):
                raise ValueError(f"{where} must be strictly increasing epochs >= 1, got {ms}")
            if any(m >= self.epochs for m in ms):
                raise ValueError(f"{where} {ms} must be < epochs ({self.epochs}); lower them together with epochs")
        if any(k < 1 for k in self.knn_k):
            raise ValueError(f"knn_k must be >= 1, got {self.knn_k}")
        if any(t <= 0 for t in self.knn_temperature):
            raise ValueError(f"knn_temperature must be > 0, got {self.knn_temperature}")
        return self


class FinetuneParams(TrainParams):
    # Start from the RotNet weights and train them with a fresh head on the labels, once per
    # head of `heads` (each its own model and DVC stage instance, finetune@<ds>-<bb>-<head>).
    # network: paper: the RotNet up to the conv-head map (the first of probe.conv_layers the
    #   backbone has, block 2 for NIN, else its last map) plus the fresh head (conv: the
    #   paper's 92.17; nonlinear: its 91.73; linear), all trained;
    # whole: the whole network with its own fresh linear classifier: heads must be [linear].
    # The recipe is this project's own: no official config exists for fine-tuning.
    network: Literal["paper", "whole"] = "paper"
    heads: list[Literal["conv", "nonlinear", "linear"]] = Field(
        default_factory=lambda: ["conv", "nonlinear"], min_length=1
    )
    hidden: int = Field(200, ge=1)  # the non-linear head's width
    backbone_lr_scale: float = Field(1.0, gt=0, le=1)  # lr of pretrained layers = scale x lr
    # The study.methods (SimCLR, BYOL) whose backbones are fine-tuned too, exactly as the RotNet:
    # one ssl_finetune@<dataset>-<backbone>-<method>-<head> per method and head. [] fine-tunes none.
    methods: list[Literal["simclr", "byol"]] = Field(default_factory=lambda: ["simclr", "byol"])

    @model_validator(mode="before")
    @classmethod
    def _head_renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "head" in data:
            raise ValueError(
                f"finetune.head was replaced by finetune.heads, a list (one fine-tuned model per head): "
                f"write `heads: [{data['head']}]`, or the paper's two rows: `heads: [conv, nonlinear]`"
            )
        return data

    @model_validator(mode="after")
    def _heads_fit_network(self) -> FinetuneParams:
        if len(set(self.heads)) != len(self.heads):
            raise ValueError(f"heads lists a head twice: {self.heads}")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods lists a method twice: {self.methods}")
        if self.network == "whole" and self.heads != ["linear"]:
            raise ValueError(
                f"network: whole trains the whole backbone under its own fresh linear classifier, so heads "
                f"must be [linear] (got {self.heads}); the conv and nonlinear heads need network: paper"
            )
        return self


class SmallInputParams(TrainParams):
    """A short supervised run of each small-input choice, for accuracy and images/s side by side."""

    backbones: list[str] = Field(default_factory=lambda: ["efficientnet_b0", "efficientnet_b0_upsample"])
    epochs: int = Field(30, ge=1)
    train_images: int | None = Field(None, ge=10)  # a stratified subset of train; null: all of it
    schedule: ScheduleParams = ScheduleParams(name="cosine", milestones=[])


class ControlParams(Strict):
    """The probe stage's heads and kNN on frozen backbones that are not a RotNet (control
    stage), with probe's recipe: ``random``, randomly initialised (seeded; the paper's
    72.50 is its conv head on block 2), and ``supervised``, the supervised stage's model."""

    inits: list[Literal["random", "supervised"]] = Field(default_factory=lambda: ["random", "supervised"], min_length=1)

    @field_validator("inits")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"inits lists a control twice: {value}")
        return value


SEMISUP_ARMS = ("scratch", "rotnet", "rotnet_finetune")


class SemisupParams(Strict):
    """The paper's figure 5b: accuracy against labelled images per class, as the official
    configs run it. Arms: ``scratch``, a network trained from scratch on the labels (a
    3-block NIN for NIN); ``rotnet``, the paper's conv head trained on the FROZEN RotNet's
    map (block 2 for NIN; eval mode, no gradients); ``rotnet_finetune`` (not the paper's),
    the same with the RotNet blocks fine-tuned too. Epochs are chosen on a validation set of
    as many images per class as the arm was given labels, never on the full validation split."""

    # K = 5000 (all of CIFAR-10's labels) cannot hold beside a validation carve: it is the
    # supervised baseline (nin3) and the probe's conv head, which train on the whole split.
    labels_per_class: list[int] = Field(default_factory=lambda: [20, 100, 400, 1000], min_length=1)
    backbones: list[str] = Field(default_factory=lambda: ["nin"], min_length=1)
    arms: list[Literal["scratch", "rotnet", "rotnet_finetune"]] = Field(
        default_factory=lambda: ["scratch", "rotnet"], min_length=1
    )
    # The scratch arm's network per semisup backbone (a `backbones` entry); the official
    # scratch arm is a 3-block NIN. A backbone not listed trains itself from scratch.
    scratch_backbones: dict[str, str] = Field(default_factory=lambda: {"nin": "nin3"})
    # The study.methods (SimCLR, BYOL) whose backbones run the pretrained arms too (not scratch,
    # which has no pretraining): one ssl_semisup@<dataset>-<backbone>-<method> each. [] runs none.
    methods: list[Literal["simclr", "byol"]] = Field(default_factory=lambda: ["simclr", "byol"])
    # Official: 200 epochs, lr x0.2 at 60/120/160, epochs of 50,000 samples cycling the labels.
    scratch: TrainParams = TrainParams(epochs=200, epoch_size=50000, schedule=ScheduleParams(milestones=[60, 120, 160]))
    # Official (conv head on frozen block 2): 100 epochs, lr x0.2 at 35/70/85, 50,000 samples.
    rotnet: TrainParams = TrainParams(epochs=100, epoch_size=50000, schedule=ScheduleParams(milestones=[35, 70, 85]))

    @model_validator(mode="after")
    def _valid(self) -> SemisupParams:
        if any(n < 1 for n in self.labels_per_class):
            raise ValueError(f"labels_per_class must be >= 1, got {self.labels_per_class}")
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arms must not repeat, got {self.arms}")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods must not repeat, got {self.methods}")
        return self

    def scratch_backbone(self, backbone: str) -> str:
        return self.scratch_backbones.get(backbone, backbone)


ROBUSTNESS_MODELS = ("supervised", "supervised_rot", "probe")


class RobustnessParams(Strict):
    """Accuracy under common corruptions (CIFAR-10-C's, regenerated from the test split by
    rotnet.data.corruptions, or read from datasets.<name>.corruptions): each corruption at
    each severity, seeded by the top-level ``seed``."""

    corruptions: list[str] = Field(
        default_factory=lambda: list(CORRUPTION_NAMES),  # all of CIFAR-10-C's that we regenerate
        min_length=1,
    )
    severities: list[int] = Field(default_factory=lambda: list(SEVERITIES), min_length=1)
    # supervised, supervised_rot: the stages' classifiers; probe: the RotNet with its best
    # (validation-chosen) probe head.
    models: list[Literal["supervised", "supervised_rot", "probe"]] = Field(
        default_factory=lambda: list(ROBUSTNESS_MODELS), min_length=1
    )

    @model_validator(mode="after")
    def _known(self) -> RobustnessParams:
        unknown = [c for c in self.corruptions if c not in CORRUPTION_NAMES]
        if unknown:
            raise ValueError(f"unknown corruptions {unknown}; use some of {list(CORRUPTION_NAMES)}")
        if any(s not in SEVERITIES for s in self.severities) or len(set(self.severities)) != len(self.severities):
            raise ValueError(f"severities must be distinct values of 1..5, got {self.severities}")
        if len(set(self.corruptions)) != len(self.corruptions) or len(set(self.models)) != len(self.models):
            raise ValueError("corruptions and models must not repeat")
        return self


class Params(Strict):
    seed: int = 0
    study: StudyParams = StudyParams()
    runtime: RuntimeParams = RuntimeParams()
    distributed: DistributedParams = DistributedParams()
    datasets: dict[str, DatasetParams] = Field(default_factory=lambda: {"cifar10": DatasetParams()})
    backbones: dict[str, dict[str, Any]] = Field(default_factory=dict, validate_default=True)
    supervised: TrainParams = TrainParams()
    pretrain: PretrainParams = PretrainParams()
    probe: ProbeParams = ProbeParams(
        schedule=ScheduleParams(milestones=[35, 70, 85]), head_milestones={"nonlinear": [20, 40, 45]}
    )
    finetune: FinetuneParams = FinetuneParams(epochs=100, schedule=ScheduleParams(milestones=[35, 70, 85]))
    supervised_rot: SupervisedRotParams = SupervisedRotParams()
    robustness: RobustnessParams = RobustnessParams()
    control: ControlParams = ControlParams()
    small_input: SmallInputParams = SmallInputParams()
    semisup: SemisupParams = SemisupParams()
    simclr: SimCLRParams = SimCLRParams()
    byol: BYOLParams = BYOLParams()

    @field_validator("backbones", mode="before")
    @classmethod
    def _with_builtin_entries(cls, value: Any) -> Any:
        # Entries the defaults refer to exist even when a params file lists only its own.
        return {**BUILTIN_BACKBONES, **value} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _study_refers_to_known_entries(self) -> Params:
        for name in self.datasets:
            if not DATASET_NAME.match(name):
                raise ValueError(f"dataset name '{name}' must be lower-case letters, digits, '_' or '-'")
        missing = [d for d in self.study.datasets if d not in self.datasets]
        if missing:
            raise ValueError(
                f"study.datasets names {missing}, which have no entry under 'datasets' "
                f"(defined: {sorted(self.datasets)})"
            )
        most = max(self.semisup.labels_per_class)
        for d in self.study.datasets:
            keep = self.datasets[d].keep_first_per_class
            if keep is not None and most > keep:
                raise ValueError(
                    f"semisup.labels_per_class has {most}, more than datasets.{d}.keep_first_per_class ({keep}): "
                    f"the validation carve may take some of the first {most} images of a class, so that subset "
                    f"would not be the first {most}; raise datasets.{d}.keep_first_per_class to {most} (it moves "
                    "the validation split of every stage) or drop that label count"
                )
        return self

    def dataset(self, name: str) -> DatasetParams:
        if name not in self.datasets:
            raise RotnetError(f"unknown dataset '{name}'; params.yaml defines: {', '.join(sorted(self.datasets))}")
        return self.datasets[name]

    def backbone_lists(self) -> dict[str, list[str]]:
        """Every list of backbones the DAG builds, by its key: each name in them is validated at
        load, and `rotnet backbones` tags the entries with these keys."""
        return {
            "study.backbones": list(self.study.backbones),
            "study.baselines": list(self.study.baselines),
            "small_input.backbones": list(self.small_input.backbones),
            "semisup.scratch_backbones": sorted(set(self.semisup.scratch_backbones.values())),
        }

    def backbone_options(self, name: str) -> dict[str, Any]:
        """The options that build backbone ``name`` (its entry, without its ``recipe``)."""
        opts = dict(self.backbones.get(name) or {})
        opts.pop("recipe", None)
        return opts

    def recipe_overrides(self, name: str | None) -> dict[str, dict[str, Any]]:
        """``backbones.<name>.recipe``: per training section, the keys this backbone changes."""
        return dict((self.backbones.get(name) or {}).get("recipe") or {}) if name else {}

    def recipe(self, section: str, backbone: str | None) -> Any:
        """Training section ``section`` (one of RECIPE_SECTIONS) as
        backbone ``backbone`` runs it: the section with ``backbones.<backbone>.recipe.<section>``
        merged in, key by key (nested mappings merged too)."""
        base = getattr(self, section)
        over = self.recipe_overrides(backbone).get(section)
        if not over:
            return base
        try:
            return type(base).model_validate(deep_merge(base.model_dump(), over))
        except ValidationError as err:
            raise RotnetError(_describe(err, "params.yaml", at=f"backbones.{backbone}.recipe.{section}")) from None


RECIPE_SECTIONS = ("supervised", "pretrain", "probe", "finetune", "supervised_rot", "small_input", "simclr", "byol")


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _check_recipes(params: Params, source: str) -> None:
    """Every backbones.<name>.recipe names training sections with mappings; and where the
    study uses that backbone in a section, the section with its keys merged in is valid."""
    used: dict[str, set[str]] = {}
    for name in params.study.backbones:
        used.setdefault(name, set()).update(("supervised", "pretrain", "probe", "finetune", "supervised_rot"))
        used[name].update(params.study.methods)
    for name in params.study.baselines:
        used.setdefault(name, set()).add("supervised")
    for name in params.small_input.backbones:
        used.setdefault(name, set()).add("small_input")
    for name, entry in params.backbones.items():
        recipe = (entry or {}).get("recipe")
        if recipe is None:
            continue
        where = f"backbones.{name}.recipe"
        if not isinstance(recipe, dict):
            raise RotnetError(f"{source}: {where} must map training sections to the keys they change")
        for section, over in recipe.items():
            if section not in RECIPE_SECTIONS:
                raise RotnetError(
                    f"{source}: {where}.{section}: not a training section; use one of {', '.join(RECIPE_SECTIONS)}"
                )
            if not isinstance(over, dict):
                raise RotnetError(f"{source}: {where}.{section} must be a mapping of that section's keys")
            if section == "finetune" and "heads" in over:
                raise RotnetError(
                    f"{source}: {where}.finetune.heads: finetune.heads is one list for every backbone (dvc.yaml "
                    "runs a finetune stage per head); set it in the finetune section"
                )
            if section == "finetune" and "methods" in over:
                raise RotnetError(
                    f"{source}: {where}.finetune.methods: finetune.methods is one list for every backbone (dvc.yaml "
                    "runs an ssl_finetune stage per method); set it in the finetune section"
                )
            if section in used.get(name, ()):
                params.recipe(section, name)


def _describe(err: ValidationError, source: str, at: str = "") -> str:
    """Every problem, each with its key; ``at``: where the validated mapping sits in the file."""
    lines = [f"invalid parameters in {source}:"]
    for e in err.errors():
        where = ".".join([at, *map(str, e["loc"])] if at else map(str, e["loc"])) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        shown = "" if isinstance(got, dict) or e["type"] == "missing" else f" (got {got!r})"
        lines.append(f"  - {where}: {msg}{shown}")
    lines.append(f"Fix these keys in {source} (or the matching `dvc exp run -S key=value`).")
    return "\n".join(lines)


def parse_params(raw: dict[str, Any] | None, source: str = "params.yaml") -> Params:
    """Validate a params mapping; raise RotnetError listing every problem."""
    try:
        params = Params.model_validate(raw or {})
    except ValidationError as err:
        raise RotnetError(_describe(err, source)) from None
    # Backbone names and options are checked against each architecture's typed options
    # (rotnet.models.options: pydantic only, so validating params never loads torch).
    from rotnet.models.options import validate_backbone_options

    for where, names in params.backbone_lists().items():
        for name in names:
            try:
                validate_backbone_options(name, params.backbone_options(name), source)
            except RotnetError as err:
                raise RotnetError(f"{source}: {where} names '{name}': {err}") from None
    # semisup@<dataset>-<backbone> reuses that backbone's RotNet: said here, not after the
    # rest of the DAG has trained (every stage loads params through this function).
    unpretrained = [b for b in params.semisup.backbones if b not in params.study.backbones]
    if unpretrained:
        raise RotnetError(
            f"{source}: semisup.backbones names {unpretrained}, which study.backbones "
            f"({params.study.backbones}) does not pretrain; add them there or drop them from semisup.backbones"
        )
    # ssl_finetune and ssl_semisup run on that method's pretraining (ssl_pretrain).
    for key, methods in (("finetune.methods", params.finetune.methods), ("semisup.methods", params.semisup.methods)):
        unpretrained = [m for m in methods if m not in params.study.methods]
        if unpretrained:
            raise RotnetError(
                f"{source}: {key} names {unpretrained}, which study.methods ({params.study.methods}) "
                f"does not pretrain; add them to study.methods or drop them from {key}"
            )
    _check_recipes(params, source)
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.is_file():
        raise RotnetError(f"{path} not found; run from the project root, or pass --params PATH")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise RotnetError(f"{path} is not valid YAML: {err}") from None
    if raw is not None and not isinstance(raw, dict):
        raise RotnetError(f"{path} must hold a mapping of sections, got {type(raw).__name__}")
    return parse_params(raw, str(path))
