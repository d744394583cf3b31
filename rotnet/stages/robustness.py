"""robustness@<dataset>-<backbone>: accuracy under common corruptions (CIFAR-10-C's) of the
supervised classifier, the supervised+rotation one and the RotNet's best probe.

Each corruption of ``robustness.corruptions`` at each of ``robustness.severities`` is made
from the clean test split by rotnet.data.corruptions (regenerated here, seeded by ``seed``:
NOT the published CIFAR-10-C files), or read from the published files when
``datasets.<dataset>.corruptions`` names their folder. No model is trained: each one is
evaluated once per corrupted set, as its stage saved it (the probe: the RotNet with the head
and map its validation accuracy chose, one choice for every training seed). Each training
seed's models are scored, and the figures averaged over seeds as every stage's.

Reads data/prepared/<dataset> and models/<dataset>/<backbone>/{supervised,supervised_rot,
pretrain}/model.pt and probe/heads.pt (those of ``robustness.models``). Writes
metrics/runs/<dataset>/<backbone>/robustness.json (per model: the mean corrupted accuracy)
and models/<dataset>/<backbone>/robustness/run.json (also the clean accuracy, every
corruption and severity).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rotnet import paths
from rotnet.data.corruptions import CORRUPTIONS, corrupt, load_published
from rotnet.errors import RotnetError
from rotnet.inference.model import load_model
from rotnet.models.heads import build_head
from rotnet.models.saved import build_model, load_model_file
from rotnet.params import Params
from rotnet.probing.heads import map_shape
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training import results
from rotnet.training.context import StageRun
from rotnet.training.environment import StageEnvironment
from rotnet.training.runtime import autocast

SPEC = BY_NAME["robustness"]
Classifier = Callable[[np.ndarray], torch.Tensor]  # uint8 (N, H, W, C) -> predicted classes


def _batched(predict: Callable[[np.ndarray], torch.Tensor], batch: int) -> Classifier:
    """A classifier running ``predict`` (class scores of a batch) over ``batch`` images at a time."""
    return lambda images: torch.cat(
        [predict(images[i : i + batch]).argmax(1).cpu() for i in range(0, len(images), batch)]
    )


def _stage_classifiers(path: Path, device: torch.device, batch: int) -> dict[str, Classifier]:
    """A supervised or supervised_rot model file, predicting as `rotnet predict` does (a
    joint model aggregates its rotated copies, as its test did); a joint model also as its
    upright copy alone (key ``upright``), as its stage reports it too."""
    model = load_model(path, ("supervised", "supervised_rot"), device, "robustness needs a classifier")
    out = {"": _batched(model.probabilities, batch)}
    if model.joint_rotations:
        out["upright"] = _batched(lambda images: model.probabilities(images, upright_only=True), batch)
    return out


def probe_choice(dataset: str, backbone: str) -> tuple[str, str]:
    """The probe stage's validation-chosen (layer, head): one for every training seed, in
    the stage folder's run record (seeds/ holds model files only)."""
    path = paths.record_file("probe", dataset, backbone)
    if not path.is_file():
        raise RotnetError(
            f"{path} not found: run the probe stage first (dvc repro), or remove 'probe' from robustness.models"
        )
    best = json.loads(path.read_text())["best"]
    return best["layer"], best["head"]


def _probe_classifier(env: StageEnvironment, device: torch.device, batch: int) -> Classifier:
    """The current seed's RotNet with its probe head at the probe stage's choice."""
    ckpt = load_model_file(env.upstream("pretrain"), kind="pretrain")
    backbone = build_model(ckpt).eval()  # on the CPU for the dry pass of map_shape
    heads = torch.load(env.upstream("probe", "heads.pt"), map_location="cpu", weights_only=True)
    layer, kind = probe_choice(env.dataset, env.backbone or "")
    state = heads["heads"][f"{layer}/{kind}"]
    p = env.prepared
    shape = map_shape(backbone, layer, env.in_chans, tuple(p.train.images.shape[1:3]))
    backbone.to(device)
    cfg = env.params.recipe("probe", env.backbone)
    head: nn.Module = build_head(kind, shape, p.num_classes, cfg.hidden)
    head.load_state_dict(state)
    head.to(device).eval()
    mean = torch.tensor(p.mean, device=device).view(1, -1, 1, 1) * 255
    std = torch.tensor(p.std, device=device).view(1, -1, 1, 1) * 255

    @torch.no_grad()
    def scores(images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float()
        with autocast(device, env.params.runtime.amp):
            return head(backbone.forward_intermediates((x - mean) / std, upto=layer)[layer])

    return _batched(scores, batch)


def corrupted_sets(
    params: Params, dataset: str, images: np.ndarray, labels: np.ndarray
) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    """(corruption, severity) -> (images, labels): regenerated from the test split, or the
    published files where datasets.<dataset>.corruptions names their folder."""
    cfg = params.robustness
    folder = params.dataset(dataset).corruptions
    sets = {}
    for name in cfg.corruptions:
        for severity in cfg.severities:
            if folder:
                found, found_labels = load_published(Path(folder), name, severity)
                if found.shape[1:] != images.shape[1:]:
                    raise RotnetError(
                        f"datasets.{dataset}.corruptions: {folder} holds {found.shape[1:]} images, the prepared "
                        f"test split {images.shape[1:]}; point it at the corrupted copies of this dataset"
                    )
                sets[name, severity] = (found, found_labels)
            else:
                sets[name, severity] = (corrupt(images, name, severity, params.seed), labels)
    return sets


def _accuracy(classify: Classifier, images: np.ndarray, labels: np.ndarray) -> float:
    predicted = classify(np.ascontiguousarray(images))
    return round(float((predicted.numpy() == labels).mean() * 100), 2)


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    cfg = params.robustness
    with StageRun(params, SPEC.name, dataset, backbone) as stage:
        env = stage.env
        test = env.prepared.test
        sets = corrupted_sets(params, dataset, test.images, test.labels)
        batch = params.runtime.eval_batch_size
        for _ in stage.each_seed():
            metrics: dict[str, Any] = {}
            record: dict[str, Any] = {}
            for kind in cfg.models:
                if kind == "probe":
                    classifiers = {"": _probe_classifier(env, env.device, batch)}
                else:
                    path = env.upstream(kind)
                    if not path.is_file():
                        raise RotnetError(
                            f"{path} not found: run the {kind} stage first (dvc repro), or remove "
                            f"'{kind}' from robustness.models"
                        )
                    classifiers = _stage_classifiers(path, env.device, batch)
                for variant, classify in classifiers.items():
                    name = f"{kind}_{variant}" if variant else kind  # supervised_rot_upright: joint, upright copy
                    clean = _accuracy(classify, test.images, test.labels)
                    table = {f"{n}/{s}": _accuracy(classify, *sets[n, s]) for n, s in sets}
                    corrupted = round(float(np.mean(list(table.values()))), 2)
                    # The clean figure is the stage's own test accuracy (in its metrics already).
                    metrics[name] = {"corruption_acc": corrupted}
                    per_corruption = {
                        n: round(float(np.mean([table[f"{n}/{s}"] for s in cfg.severities])), 2)
                        for n in cfg.corruptions
                    }
                    record[name] = {"clean_acc": clean, "corruption_acc": corrupted, "per_corruption": per_corruption}
                    record[name]["per_set"] = table
            source = params.dataset(dataset).corruptions
            record.update(
                corruptions=list(cfg.corruptions),
                families={n: CORRUPTIONS[n].family for n in cfg.corruptions},
                severities=list(cfg.severities),
                source=f"published CIFAR-10-C files in {source}" if source else "regenerated (rotnet.data.corruptions)",
                seed=params.seed,
                **results.run_details(env, params.supervised),
            )
            record.pop("recipe", None)  # nothing is trained here
            stage.write_results(metrics, record)
    return stage.metrics


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
