"""SimCLR's and BYOL's recipes, as lightly's CIFAR-10 benchmark runs them: the figures the study
compares with (SimCLR 84.8 / BYOL 86.8 kNN top-1 at 200 epochs, batch 512; 87.9 / 91.0 at 800).

Source: lightly-ai/lightly, docs/source/getting_started/benchmarks/cifar10_benchmark.py (read at
the mirror's newest commit, e8d317fc; lightly 1.6.0's transforms and heads give the defaults it
leaves out). Where the study departs from it, the field's comment says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rotnet.data.views import ViewParams
from rotnet.methods.heads import HeadSize


@dataclass(frozen=True)
class OptimRecipe:
    """SGD with momentum, lr on a cosine over the epochs (CosineAnnealingLR(T_max=epochs), stepped
    per epoch, no warm-up), lr scaled linearly with the batch from ``lr_per_128``."""

    lr_per_128: float = 0.06  # `lr=6e-2 * lr_factor`, lr_factor = batch_size / 128
    momentum: float = 0.9
    weight_decay: float = 5e-4  # on every weight, BatchNorm and biases included, as there
    batch_size: int = 512  # the rows of its table we compare with (its script's default is 128)

    def lr(self, batch_size: int) -> float:
        return self.lr_per_128 * batch_size / 128


# lightly's SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0): the default jitter
# (0.8, 0.8, 0.8, 0.2) at strength 0.5, applied with p 0.8; no blur on CIFAR.
SIMCLR_VIEW = ViewParams(
    scale=(0.08, 1.0), flip_prob=0.5, jitter_prob=0.8, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1
)
# lightly's BYOLView1Transform / BYOLView2Transform(input_size=32, gaussian_blur=0.0): BYOL's
# jitter (0.4, 0.4, 0.2, 0.1), p 0.8; solarization on the second view only, p 0.2, threshold 128.
BYOL_VIEW_1 = ViewParams(
    scale=(0.08, 1.0), flip_prob=0.5, jitter_prob=0.8, brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1
)
BYOL_VIEW_2 = ViewParams(
    scale=(0.08, 1.0),
    flip_prob=0.5,
    jitter_prob=0.8,
    brightness=0.4,
    contrast=0.4,
    saturation=0.2,
    hue=0.1,
    solarize_prob=0.2,
)


@dataclass(frozen=True)
class SimCLRRecipe:
    optim: OptimRecipe = field(default_factory=OptimRecipe)
    temperature: float = 0.5  # NTXentLoss() with its default temperature
    # SimCLRProjectionHead(512, 512, 128): 2 layers, BatchNorm on both, the hidden layer as wide
    # as ResNet-18's features; the input width is the backbone's (512 for ResNet-18).
    projector: HeadSize = field(default_factory=lambda: HeadSize(hidden=512, out=128, out_norm=True))
    views: tuple[ViewParams, ViewParams] = (SIMCLR_VIEW, SIMCLR_VIEW)


@dataclass(frozen=True)
class BYOLRecipe:
    optim: OptimRecipe = field(default_factory=OptimRecipe)
    # BYOLProjectionHead(512, 1024, 256) and BYOLPredictionHead(256, 1024, 256).
    projector: HeadSize = field(default_factory=lambda: HeadSize(hidden=1024, out=256, out_norm=False))
    predictor: HeadSize = field(default_factory=lambda: HeadSize(hidden=1024, out=256, out_norm=False))
    # update_momentum(..., m=0.99) every step: a constant momentum in the CIFAR-10 benchmark (its
    # ImageNet BYOL runs cosine_schedule(step, steps, 0.99, 1.0)); cosine_momentum(start, end)
    # gives either, and is constant when start == end.
    momentum_start: float = 0.99
    momentum_end: float = 0.99
    views: tuple[ViewParams, ViewParams] = (BYOL_VIEW_1, BYOL_VIEW_2)


SIMCLR = SimCLRRecipe()
BYOL = BYOLRecipe()
RECIPES: dict[str, SimCLRRecipe | BYOLRecipe] = {"simclr": SIMCLR, "byol": BYOL}
# The benchmark's kNN monitor (BenchmarkModule, knn_predict): k = 200 nearest by cosine similarity,
# each neighbour's vote weighted by exp(cos / 0.1); the test set against all 50,000 training
# images, the best epoch's figure.
LIGHTLY_KNN_K = 200
LIGHTLY_KNN_T = 0.1
