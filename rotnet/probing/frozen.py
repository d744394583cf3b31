"""The frozen-backbone probe: every head of the probe recipe on every frozen feature map,
then the weighted kNN on every pooled map, and the choices made once over training seeds.

The probe and control stages and the benchmarks probe through here. Every choice is made on
validation accuracy, once for all training seeds (``chosen_figures``): the best layer and
head, and per map the kNN's k and temperature. The figures reported are each seed's at that
one choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from rotnet.data.device import DeviceDataset
from rotnet.data.prepared import PreparedDataset
from rotnet.models.base import Backbone
from rotnet.params import Params, ProbeParams, RuntimeParams
from rotnet.probing.knn import KnnGrid, KnnResult, knn_grid, pooled_features, select
from rotnet.probing.task import probe_heads, probe_task
from rotnet.rotation import InputView
from rotnet.seeds import choose_once
from rotnet.training.results import FitResult
from rotnet.training.tasks import Task

if TYPE_CHECKING:
    from rotnet.training.seed_runs import SeedResults

SPLITS = ("train", "val", "test")


class ProbeEnv(Protocol):
    """What probing needs of a stage's environment (rotnet.training.environment): its data."""

    params: Params
    prepared: PreparedDataset
    data: DeviceDataset
    in_chans: int
    backbone: str | None


class ProbeRun(Protocol):
    """What probing needs of a stage's run: its environment, and a fit of a task with a recipe."""

    env: ProbeEnv

    def fit(self, task: Task, cfg: Any, **fit_args: Any) -> FitResult: ...


def knn_probe(model: Backbone, data: DeviceDataset, cfg: ProbeParams, classes: int, runtime: RuntimeParams) -> KnnGrid:
    """Weighted kNN on every pooled feature map, at every (k, T): validation figures to
    choose with, test figures to read at the choice (``choose_probes``)."""
    feats = {s: pooled_features(model, getattr(data, s), runtime.eval_batch_size, runtime.amp) for s in SPLITS}
    labels = {s: getattr(data, s).labels for s in SPLITS}
    return knn_grid(
        feats["train"],
        labels["train"],
        feats["val"],
        labels["val"],
        feats["test"],
        labels["test"],
        cfg.knn_k,
        cfg.knn_temperature,
        classes,
    )


@dataclass
class FrozenProbes:
    """What probing one frozen backbone gave: the trained heads (by output name, and the map
    each reads), the fit (each head's validation and test accuracy at its own best epoch)
    and the kNN grid. Nothing is chosen yet: ``chosen_figures`` chooses over seeds."""

    heads: dict[str, nn.Module]
    layers: dict[str, str]  # output name -> feature map
    result: FitResult
    knn: KnnGrid
    milestones: dict[str, list[int]]  # head kind -> lr milestones, for the record

    def figures(self, best_out: str, knn: KnnResult) -> tuple[dict[str, Any], dict[str, Any]]:
        """Metrics (results only) and record (with each head's best epoch and the kNN's k
        and T) at the choices given: ``best_out`` the chosen head, ``knn`` the kNN choice."""
        kinds = {o: o.split("/")[1] for o in self.layers}
        record_layers: dict[str, dict[str, Any]] = {}
        for out, res in self.result.outputs.items():
            acc = {"val_acc": round(res.val_acc, 2), "test_acc": round(res.test_acc, 2)}
            record_layers.setdefault(self.layers[out], {})[kinds[out]] = {**acc, "best_epoch": res.best_epoch}
        per_layer = {
            layer: {kind: {k: v for k, v in r.items() if k != "best_epoch"} for kind, r in heads_acc.items()}
            for layer, heads_acc in record_layers.items()
        }
        best = self.result.outputs[best_out]
        metrics = {
            "best": {
                "layer": self.layers[best_out],
                "head": kinds[best_out],
                "val_acc": round(best.val_acc, 2),
                "test_acc": round(best.test_acc, 2),
            },
            "layers": per_layer,
            "knn": {layer: {"val_acc": r["val_acc"], "test_acc": r["test_acc"]} for layer, r in knn.layers.items()},
            "images_per_s": round(self.result.images_per_s, 1),
        }
        record = {
            **metrics,
            "layers": record_layers,
            "knn": knn.layers,
            "knn_best": {"layer": knn.best_layer, **knn.layers[knn.best_layer]},
            "milestones": self.milestones,
        }
        return metrics, record


def chosen_figures(per_seed: Sequence[FrozenProbes]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each seed's metrics and record, every choice made once over the seeds on mean
    validation accuracy (rotnet.seeds.choose_once): the best (layer, head), and per map the
    kNN's (k, T) and its best map. With one seed, that seed's own choices."""
    outs = list(per_seed[0].result.outputs)
    best_out = choose_once([{o: p.result.outputs[o].val_acc for o in outs} for p in per_seed])
    knns = select([p.knn for p in per_seed])
    return [p.figures(best_out, knn) for p, knn in zip(per_seed, knns, strict=True)]


@dataclass
class ProbeCandidates:
    """One seed's probings, before any choice: the headline (images as they are) and, for a
    RotNet that saw them otherwise, its own view's (``view``: how it saw them)."""

    plain: FrozenProbes
    seen: FrozenProbes | None = None
    view: InputView | None = None


def choose_probes(seeds: list[SeedResults]) -> None:
    """StageRun.each_seed's chooser: the probe figures of every seed (``candidates``: its
    ProbeCandidates) at the choices made once over all seeds, before the seed's run details;
    the RotNet view's choices are made over seeds too, apart from the headline's."""
    cands: list[ProbeCandidates] = [s.candidates for s in seeds]
    plain = chosen_figures([c.plain for c in cands])
    seen: list[tuple[dict[str, Any], dict[str, Any]] | None] = [None] * len(cands)
    if all(c.seen is not None for c in cands):
        seen = list(chosen_figures([c.seen for c in cands if c.seen is not None]))
    for s, c, (metrics, record), view_figs in zip(seeds, cands, plain, seen, strict=True):
        if view_figs is not None and c.view is not None:
            metrics = {**metrics, "rotnet_view": view_figs[0]}
            record = {**record, "rotnet_view": {**view_figs[1], "view": c.view.record(), "shown": c.view.describe()}}
        s.metrics, s.record = metrics, {**record, **s.record}


class _ViewStem(nn.Module):
    """A backbone's stem with ``view`` applied to its input first."""

    def __init__(self, view: InputView, stem: nn.Module) -> None:
        super().__init__()
        self.view, self.stem = view, stem

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(self.view.apply(x))


def viewed(model: Backbone, view: InputView) -> Backbone:
    """``model`` (not saved afterwards) seeing every input through ``view``: every path
    (forward_intermediates, the kNN's features) goes through the stem."""
    model.stem = _ViewStem(view, model.stem)
    return model


def probe_frozen(stage: ProbeRun, model: Backbone, cfg: ProbeParams, **fit_args: Any) -> FrozenProbes:
    """Train every head of ``cfg`` on every frozen map of ``model`` (one backbone pass per
    batch), then the kNN probe; ``fit_args`` go to the run's ``fit`` (part, desc, fingerprint)."""
    env = stage.env
    classes = env.prepared.num_classes
    hw = env.prepared.train.images.shape[1:3]
    heads, layers = probe_heads(model, cfg, env.in_chans, hw, classes, env.backbone or "")
    result = stage.fit(probe_task(heads, layers, model, cfg, classes), cfg, **fit_args)
    # The kNN probe reads the same frozen backbone once the heads are trained, so the heads'
    # random draws are those of a run without it (kNN itself draws none). Every process
    # computes it on the whole splits; rank 0 writes it.
    knn = knn_probe(model, env.data, cfg, classes, env.params.runtime)
    milestones = {k: list(cfg.head_milestones.get(k, cfg.schedule.milestones)) for k in cfg.heads}
    return FrozenProbes(heads, layers, result, knn, milestones)
