"""The weighted kNN probe of InstDisc (Wu et al. 2018), as solo-learn and lightly report it.

Each frozen feature map is global-average-pooled and L2-normalised; a query's k nearest
training images by cosine similarity each vote for their class with weight exp(sim / T),
and the class with the largest summed weight is predicted. Nothing is trained. Per
feature map, k and T are chosen on the validation split (the training split is the
memory bank). The test accuracy is computed at every pair and read only at the chosen
one: several training seeds then share one choice, made on their mean validation
accuracy (``select``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from rotnet.data.device import DeviceSplit
from rotnet.models.base import Backbone
from rotnet.seeds import choose_once
from rotnet.training.runtime import autocast

QUERY_CHUNK = 1024  # queries per similarity matrix: memory is chunk x train images


@torch.no_grad()
def pooled_features(
    backbone: Backbone, split: DeviceSplit, batch_size: int, amp: bool = False
) -> dict[str, torch.Tensor]:
    """Every named feature map of ``split``, global-average-pooled: layer -> (N, C) float32,
    on the split's device. One forward_intermediates pass per batch, backbone in eval mode."""
    was_training = backbone.training
    backbone.eval()
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in backbone.feature_names}
    try:
        for batch in split.eval_batches(batch_size):
            with autocast(split.device, amp):
                maps = backbone.forward_intermediates(batch.x)
            for name, m in maps.items():
                parts[name].append(F.adaptive_avg_pool2d(m, 1).flatten(1).float())
    finally:
        backbone.train(was_training)
    return {name: torch.cat(p) for name, p in parts.items()}


def _neighbours(
    train_feats: torch.Tensor, train_labels: torch.Tensor, query_feats: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarity and label of each query's ``k`` nearest training images, most
    similar first: two (Q, k) tensors. ``k`` larger than the training set is clamped."""
    k = min(k, len(train_feats))
    bank = F.normalize(train_feats.float(), dim=1)
    sims, labels = [], []
    for start in range(0, len(query_feats), QUERY_CHUNK):
        q = F.normalize(query_feats[start : start + QUERY_CHUNK].float(), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)  # sorted: the first k' of these are the top k'
        sims.append(sim)
        labels.append(train_labels[idx].long())
    if not sims:
        empty = torch.empty(0, k, device=train_feats.device)
        return empty, empty.long()
    return torch.cat(sims), torch.cat(labels)


def _vote(sims: torch.Tensor, labels: torch.Tensor, k: int, temperature: float, num_classes: int) -> torch.Tensor:
    """The class with the largest sum of exp(sim / T) over the first ``k`` neighbours."""
    weights = (sims[:, :k] / temperature).exp()
    scores = torch.zeros(len(sims), num_classes, device=sims.device, dtype=weights.dtype)
    scores.scatter_add_(1, labels[:, :k], weights)
    return scores.argmax(1)


def knn_predict(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    query_feats: torch.Tensor,
    k: int,
    temperature: float,
    num_classes: int,
) -> torch.Tensor:
    """Weighted kNN labels of ``query_feats`` (Q, C) against the memory bank ``train_feats``
    (N, C) with ``train_labels`` (N,): cosine similarity, top-k, votes exp(sim / T)."""
    sims, labels = _neighbours(train_feats, train_labels, query_feats, k)
    return _vote(sims, labels, k, temperature, num_classes)


def _accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    return float((pred == labels).float().mean() * 100) if len(labels) else 0.0


Pair = tuple[int, float]  # (k, temperature)


@dataclass(frozen=True)
class KnnGrid:
    """One frozen backbone's weighted-kNN accuracy at every (k, T) of the grids, per pooled
    map. The validation figures make the choice (``select``); the test figures are only read
    at the chosen pair, so that several training seeds can share one choice."""

    val: dict[str, dict[Pair, float]]
    test: dict[str, dict[Pair, float]]


@dataclass(frozen=True)
class KnnResult:
    layers: dict[str, dict[str, Any]]  # layer -> {"k", "temperature", "val_acc", "test_acc"}
    best_layer: str  # the highest validation accuracy (the earliest layer on a tie)


def _grid(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    query: torch.Tensor,
    query_labels: torch.Tensor,
    ks: Sequence[int],
    temperatures: Sequence[float],
    num_classes: int,
) -> dict[Pair, float]:
    # The nearest max(k) neighbours once; each smaller k reads a prefix of them.
    sims, labels = _neighbours(bank, bank_labels, query, max(ks))
    return {(k, t): _accuracy(_vote(sims, labels, k, t, num_classes), query_labels) for k in ks for t in temperatures}


def knn_grid(
    train: dict[str, torch.Tensor],
    train_labels: torch.Tensor,
    val: dict[str, torch.Tensor],
    val_labels: torch.Tensor,
    test: dict[str, torch.Tensor],
    test_labels: torch.Tensor,
    ks: Sequence[int],
    temperatures: Sequence[float],
    num_classes: int,
) -> KnnGrid:
    """Validation and test accuracy at every (k, T) for each layer of ``train`` (pooled
    features, as from ``pooled_features``; the training split is the memory bank)."""
    assert ks and temperatures, "empty k or temperature grid"  # params validation forbids it
    args = (ks, temperatures, num_classes)
    return KnnGrid(
        val={layer: _grid(bank, train_labels, val[layer], val_labels, *args) for layer, bank in train.items()},
        test={layer: _grid(bank, train_labels, test[layer], test_labels, *args) for layer, bank in train.items()},
    )


def select(grids: Sequence[KnnGrid]) -> list[KnnResult]:
    """One choice for every grid (one per training seed): per map, the (k, T) with the best
    mean validation accuracy over the grids (the first in grid order on a tie), then the
    best map on those pairs' mean validation accuracy (the earliest on a tie). Each grid's
    result holds its own figures at the shared choice; test plays no part in any choice."""
    layers = list(grids[0].val)
    pairs = {layer: choose_once([g.val[layer] for g in grids]) for layer in layers}
    results = [
        {
            layer: {
                "k": pair[0],
                "temperature": pair[1],
                "val_acc": round(g.val[layer][pair], 2),
                "test_acc": round(g.test[layer][pair], 2),
            }
            for layer, pair in pairs.items()
        }
        for g in grids
    ]
    best_layer = choose_once([{layer: g.val[layer][pairs[layer]] for layer in layers} for g in grids])
    return [KnnResult(r, best_layer) for r in results]
