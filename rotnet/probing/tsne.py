"""A picture of the features: a 2-D t-SNE of the pooled test features at one feature map.

The stage that holds the model computes the points (``tsne_points``); the report only
draws them. Every method and model is embedded on the same class-stratified subset of the
test split (``fixed_subset``: it depends on the labels and the seed only), so the figures
are comparable. Features are global-average-pooled and L2-normalised, as for the kNN
probe, so the picture shows the geometry that probe votes in. scikit-learn is imported
only when an embedding is made: importing this module stays cheap.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from rotnet.data.device import DeviceSplit
from rotnet.errors import RotnetError
from rotnet.models.base import Backbone

PERPLEXITY = 30.0  # scikit-learn's default (van der Maaten & Hinton suggest 5 to 50)
MIN_POINTS = 5  # fewer leave a perplexity ((n - 1) / 3 at most) near 1: no neighbourhood to keep


def fixed_subset(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Sorted indices of at most ``n`` images, stratified by class: each class's images in a
    seeded random order, then taken round-robin over the classes (ascending label order within
    a round), so per-class counts differ by at most one unless a class runs out (its share goes
    to the others). Its own generator, never the global RNG; ``n >= len(labels)`` gives all."""
    if n < 1:
        raise RotnetError(f"a t-SNE subset needs at least 1 image, not {n}: raise its image count")
    labels = labels.detach().cpu().long()
    if n >= len(labels):
        return torch.arange(len(labels))
    classes, position = torch.unique(labels, sorted=True, return_inverse=True)
    gen = torch.Generator().manual_seed(seed)
    rank = torch.empty(len(labels), dtype=torch.long)  # an image's place in its class's random order
    for c in range(len(classes)):
        members = (position == c).nonzero().flatten()
        rank[members[torch.randperm(len(members), generator=gen)]] = torch.arange(len(members))
    order = torch.argsort(rank * len(classes) + position)  # keys are unique: round by round, class by class
    return order[:n].sort().values


def _perplexity(points: int, perplexity: float) -> float:
    """scikit-learn needs perplexity < n and uses each point's 3 * perplexity nearest others:
    (n - 1) / 3 keeps those within the set."""
    return min(perplexity, (points - 1) / 3)


def _tsne_class() -> Any:
    try:
        from sklearn.manifold import TSNE
    except ImportError as err:
        raise RotnetError(
            f"the report's t-SNE needs scikit-learn ({err}): pip install scikit-learn (make install does)"
        ) from err
    return TSNE


def embed(features: torch.Tensor, seed: int, perplexity: float = PERPLEXITY) -> np.ndarray:
    """(N, C) features -> (N, 2) t-SNE coordinates of their L2-normalised rows: PCA start,
    scikit-learn's automatic learning rate, the same result for the same seed."""
    if features.ndim != 2 or len(features) < MIN_POINTS:
        raise RotnetError(
            f"t-SNE needs an (N, C) feature matrix with N >= {MIN_POINTS}, got shape {tuple(features.shape)}: "
            "embed more images"
        )
    x = F.normalize(features.detach().float(), dim=1).cpu().numpy()
    tsne = _tsne_class()(
        n_components=2,
        init="pca",
        perplexity=_perplexity(len(x), perplexity),
        learning_rate="auto",
        random_state=seed,
    )
    return tsne.fit_transform(x)


@torch.no_grad()
def _pooled(backbone: Backbone, split: DeviceSplit, idx: torch.Tensor, layer: str, batch_size: int) -> torch.Tensor:
    """Global-average-pooled map ``layer`` of the images ``idx``: (len(idx), C) float32. Later
    stages do not run; the backbone is in eval mode meanwhile."""
    was_training = backbone.training
    backbone.eval()
    parts = []
    try:
        for start in range(0, len(idx), batch_size):
            x = split.normalize(split.images[idx[start : start + batch_size]])
            m = backbone.forward_intermediates(x, upto=layer)[layer]
            parts.append(F.adaptive_avg_pool2d(m, 1).flatten(1).float())
    finally:
        backbone.train(was_training)
    return torch.cat(parts)


def tsne_points(
    backbone: Backbone,
    split: DeviceSplit,
    layer: str,
    n: int,
    seed: int,
    batch_size: int = 512,
    perplexity: float = PERPLEXITY,
) -> dict[str, Any]:
    """The t-SNE of ``fixed_subset(split.labels, n, seed)``'s pooled features at map ``layer``,
    JSON-ready: {"layer", "images", "seed", "perplexity", "x", "y", "labels", "seconds"}
    (coordinates rounded to 3 decimals; perplexity: the one used, capped for few images;
    seconds: the t-SNE's wall time)."""
    if layer not in backbone.feature_names:
        raise RotnetError(
            f"no feature map '{layer}' to embed; this backbone has {', '.join(backbone.feature_names)}: "
            "name one of those"
        )
    idx = fixed_subset(split.labels, n, seed).to(split.images.device)
    features = _pooled(backbone, split, idx, layer, batch_size)
    start = time.perf_counter()
    points = embed(features, seed, perplexity)
    seconds = time.perf_counter() - start
    return {
        "layer": layer,
        "images": len(idx),
        "seed": seed,
        "perplexity": round(_perplexity(len(idx), perplexity), 3),
        "x": [round(float(v), 3) for v in points[:, 0]],
        "y": [round(float(v), 3) for v in points[:, 1]],
        "labels": [int(v) for v in split.labels[idx].tolist()],
        "seconds": round(seconds, 2),
    }
