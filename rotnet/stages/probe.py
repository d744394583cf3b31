"""probe@<dataset>-<backbone>: train heads on every frozen feature map of the RotNet.

Every head kind in probe.heads (the paper's non-linear head, a linear head, and the
paper's conv head on probe.conv_layers) on every named map of the pretrained backbone,
all fed by one frozen backbone pass per batch. Then the weighted kNN probe
(rotnet.probing.knn) on every pooled map, which needs no training. Every choice is made on
validation accuracy, once for all training seeds (``choose_probes``): the best layer and
head, and per map the kNN's k and temperature. The figures reported are each seed's at that
one choice.

A RotNet that saw its inputs otherwise than as they are (its model file records a mask or
a shared resampling offset: ``pretrain.mask``, the 45-degree set; rotnet.rotation) is
probed twice, each time with every head and the kNN: on the images as they are (the
headline figures, at the usual keys: what every other row's probe reads, and the paper's
protocol), and on the images as the RotNet saw its label-0 copies (``rotnet_view``: masked,
turned by the offset), so that a masked RotNet is not judged only on inputs it never saw.
The saved heads are the headline ones; each probing makes its own choices over seeds.

Reads data/prepared/<dataset> and models/<dataset>/<backbone>/pretrain/model.pt. Writes
models/<dataset>/<backbone>/probe/{heads.pt,run.json},
metrics/runs/<dataset>/<backbone>/probe{.json,_history.csv} and logs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rotnet.data.device import DeviceDataset
from rotnet.errors import RotnetError
from rotnet.models.base import Backbone
from rotnet.models.heads import build_head
from rotnet.models.saved import build_model, file_sha256, input_view, load_model_file
from rotnet.params import Params, ProbeParams, RuntimeParams
from rotnet.probing.knn import KnnGrid, KnnResult, knn_grid, pooled_features, select
from rotnet.rotation import InputView
from rotnet.seeds import choose_once
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training.context import SeedResults, StageRun
from rotnet.training.engine import FitResult
from rotnet.training.tasks import ProbeTask

SPEC = BY_NAME["probe"]
SPLITS = ("train", "val", "test")


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


def probe_heads(
    model: Backbone, cfg: ProbeParams, in_chans: int, image_hw: tuple[int, int], classes: int, backbone: str
) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """Every head of ``cfg`` on every named map of ``model``: heads and their maps, by output
    name (``<map>/<kind>``)."""
    # One dry pass tells each head the size of the map it reads.
    with torch.no_grad():
        maps = model.eval().forward_intermediates(torch.zeros(2, in_chans, *image_hw))
    heads, layers = {}, {}
    for layer in model.feature_names:
        for kind in cfg.heads:
            if kind == "conv" and layer not in cfg.conv_layers:
                continue
            out = f"{layer}/{kind}"
            heads[out] = build_head(kind, maps[layer].shape[1:], classes, cfg.hidden)
            layers[out] = layer
    if not heads:
        raise RotnetError(
            f"probe: no head to train on {backbone} (heads {cfg.heads}, conv_layers {cfg.conv_layers}); add "
            f"'nonlinear' or 'linear' to probe.heads, or one of {model.feature_names} to probe.conv_layers"
        )
    return heads, layers


def probe_task(
    heads: dict[str, nn.Module], layers: dict[str, str], model: Backbone, cfg: ProbeParams, classes: int
) -> ProbeTask:
    """The task training every head at once, each with its kind's milestones."""
    kinds = {o: o.split("/")[1] for o in heads}
    milestones = {o: cfg.head_milestones[k] for o, k in kinds.items() if k in cfg.head_milestones}
    return ProbeTask(model, heads, layers, classes, milestones)


def probe_frozen(stage: StageRun, model: Backbone, cfg: ProbeParams, **fit_args: Any) -> FrozenProbes:
    """Train every head of ``cfg`` on every frozen map of ``model`` (one backbone pass per
    batch), then the kNN probe; ``fit_args`` go to ``StageRun.fit`` (part, desc, fingerprint)."""
    classes = stage.prepared.num_classes
    hw = stage.prepared.train.images.shape[1:3]
    heads, layers = probe_heads(model, cfg, stage.in_chans, hw, classes, stage.backbone or "")
    result = stage.fit(probe_task(heads, layers, model, cfg, classes), cfg, **fit_args)
    # The kNN probe reads the same frozen backbone once the heads are trained, so the heads'
    # random draws are those of a run without it (kNN itself draws none). Every process
    # computes it on the whole splits; rank 0 writes it.
    knn = knn_probe(model, stage.data, cfg, classes, stage.params.runtime)
    milestones = {k: list(cfg.head_milestones.get(k, cfg.schedule.milestones)) for k in cfg.heads}
    return FrozenProbes(heads, layers, result, knn, milestones)


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    cfg = params.recipe("probe", backbone)
    with StageRun(params, SPEC.name, dataset, backbone) as stage:
        for _ in stage.each_seed(choose_probes):
            pretrained = stage.upstream("pretrain")
            ckpt = load_model_file(pretrained, kind="pretrain")
            if ckpt["backbone"] != backbone:
                raise RotnetError(
                    f"the pretrained model for {dataset}/{backbone} holds a '{ckpt['backbone']}'; rerun pretrain"
                )
            probes = probe_frozen(stage, build_model(ckpt), cfg, pretrained=file_sha256(pretrained))
            view = input_view(ckpt)
            seen = None
            if not view.identity:  # see the module docstring; the headline stays the images as they are
                stage.reseed()  # its heads start as the headline's did
                seen = probe_frozen(
                    stage,
                    viewed(build_model(ckpt), view),
                    cfg,
                    part="rotnet_view",
                    history=False,
                    desc=f"probe@{backbone}-rotnet_view",
                    pretrained=file_sha256(pretrained),
                    view=view.record(),
                )
            stage.save(
                stage.out_dir / "heads.pt",
                {
                    "kind": "probe",
                    "backbone": backbone,
                    "heads": {o: {k: v.cpu() for k, v in h.state_dict().items()} for o, h in probes.heads.items()},
                    "layers": probes.layers,
                    "class_names": stage.prepared.class_names,
                },
            )
            # The choices wait for every seed (choose_probes); the heads are saved already.
            lean = ProbeCandidates(
                dataclasses.replace(probes, heads={}),
                None if seen is None else dataclasses.replace(seen, heads={}),
                None if seen is None else view,
            )
            stage.write_results({}, stage.run_details(cfg, probes.result), candidates=lean)
    return stage.metrics


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
