"""The semi-supervised protocol (paper fig. 5b) that the semisup stage (the RotNet, and a network
from scratch) and the ssl_semisup stage (SimCLR, BYOL) both run: per K labelled images per class,
each arm trained on the first K of each class, its epoch chosen on K validation images per class.
rotnet/stages/semisup.py says what each arm is and how the subsets and epochs are chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from rotnet.data.prepared import PreparedDataset
from rotnet.data.split import first_per_class, take
from rotnet.errors import RotnetError
from rotnet.models.heads import conv_head, with_conv_head
from rotnet.models.saved import build_model, file_sha256, load_model_file
from rotnet.params import Params, TrainParams
from rotnet.probing.heads import conv_head_layer
from rotnet.probing.task import ProbeTask
from rotnet.progress import log
from rotnet.seeds import choose_once
from rotnet.training import results
from rotnet.training.context import StageRun
from rotnet.training.environment import StageEnvironment
from rotnet.training.results import FitResult
from rotnet.training.seed_runs import SeedResults
from rotnet.training.tasks import SupervisedTask, Task


def with_labels(data: PreparedDataset, per_class: int) -> PreparedDataset:
    """The first ``per_class`` training and validation images of each class; test unchanged."""
    train = take(data.train, first_per_class(data.train.labels, per_class))
    val = take(data.val, first_per_class(data.val.labels, per_class))
    return PreparedDataset(data.name, train, val, data.test, data.meta)


def subset_rule(meta: dict[str, Any], dataset: str) -> dict[str, Any]:
    """How the labelled subsets were chosen, from the prepared data's meta: the first K
    training images of each class, official only in the official order and only when the
    validation carve left them all (``datasets.<dataset>.keep_first_per_class``)."""
    order = (meta.get("provenance") or {}).get("order")
    if order is None:  # prepared before the meta recorded its provenance
        return {"official": False, "description": "the first K images of each class of the prepared training split"}
    if meta.get("val_source") == "carved" and meta.get("keep_first_per_class") is None:
        return {
            "official": False,
            "order": order,
            "description": f"the first K training images of each class that the validation carve left, in {order} "
            f"(datasets.{dataset}.keep_first_per_class is null: not the source's first K)",
        }
    official = bool(meta["provenance"].get("official"))
    prefix = "the official subsets: " if official else ""
    return {
        "official": official,
        "order": order,
        "description": f"{prefix}the first K training images of each class in {order}",
    }


def check_label_counts(data: PreparedDataset, labels_per_class: list[int]) -> None:
    """Refuse a K the prepared data cannot give exactly: no point may claim K labels per class
    with fewer, or claim the source's first K when the validation carve took some of them."""
    most, meta = max(labels_per_class), data.meta
    keep, carved = meta.get("keep_first_per_class"), meta.get("val_source") == "carved"
    if carved and keep is not None and most > keep:
        raise RotnetError(
            f"semisup.labels_per_class has {most}, but data/prepared/{data.name} keeps only the first {keep} "
            f"images of each class out of the validation carve; set datasets.{data.name}.keep_first_per_class "
            f"to {most} and prepare again (it moves the validation split), or drop that label count"
        )
    counts = np.bincount(data.train.labels, minlength=data.num_classes)
    fewest = int(counts.argmin())
    if counts[fewest] < most:
        after = " (what the validation carve left)" if carved else ""
        raise RotnetError(
            f"semisup.labels_per_class has {most}, but class '{data.class_names[fewest]}' of {data.name}'s training "
            f"split has {int(counts[fewest])} images{after}; lower that label count to at most {int(counts[fewest])}. "
            "All of a dataset's labels is the supervised baseline (study.baselines) and the probe's conv head"
        )


def trainable_parameters(task: Task) -> int:
    seen = {id(p): p for group in task.param_groups() for p in group.module.parameters() if p.requires_grad}
    return sum(p.numel() for p in seen.values())


def arm_task(
    arm: str, env: StageEnvironment, ckpt: dict[str, Any], layer: str, scratch_net: str
) -> tuple[Task, TrainParams]:
    """The task one arm trains, and its recipe (params.semisup.scratch or .rotnet)."""
    cfg, classes = env.params.semisup, env.prepared.num_classes
    if arm == "scratch":
        return SupervisedTask(env.new_backbone(classes, scratch_net), classes), cfg.scratch
    rotnet = build_model(ckpt)
    if arm == "rotnet":
        channels = next(f.channels for f in rotnet.feature_info if f.name == layer)
        heads: dict[str, nn.Module] = {arm: conv_head(channels, classes)}
        return ProbeTask(rotnet, heads, {arm: layer}, classes), cfg.rotnet
    return SupervisedTask(with_conv_head(rotnet, layer, classes), classes), cfg.rotnet


@dataclass(frozen=True)
class Curves:
    """One arm's fit at one K, per epoch: validation accuracy (to choose with) and the test
    accuracy at the epochs where it was measured (to read at the choice)."""

    val: dict[int, float]
    test: dict[int, float]

    @classmethod
    def of(cls, result: FitResult, output: str) -> Curves:
        """Every epoch's validation accuracy; every epoch's test accuracy when the fit recorded
        it (test_each_epoch), else the test accuracy at the fit's own best epoch alone."""
        val = {int(r["epoch"]): r[f"val_acc/{output}"] for r in result.history}
        test = {int(r["epoch"]): r[f"test_acc/{output}"] for r in result.history if f"test_acc/{output}" in r}
        out = result.outputs[output]
        return cls(val, test or {out.best_epoch: out.test_acc})


def choose_epochs(seeds: list[SeedResults]) -> None:
    """StageRun.each_seed's chooser: per (K, arm) (``candidates``: (K, arm) -> Curves), the
    epoch with the best mean validation accuracy over the seeds, and every seed's validation
    and test accuracy at that epoch, in its metrics and record."""
    for key in seeds[0].candidates:
        n, arm = key
        epoch = choose_once([s.candidates[key].val for s in seeds])
        for s in seeds:
            curves = s.candidates[key]
            assert epoch in curves.test, "a fit records every epoch's test accuracy when several seeds share a choice"
            figures = {"val_acc": round(curves.val[epoch], 2), "test_acc": round(curves.test[epoch], 2)}
            s.metrics["points"].setdefault(str(n), {})[arm] = figures
            detail = next(d for d in s.record["points"] if d["labels_per_class"] == n)
            detail[arm] = {**figures, **detail[arm], "best_epoch": epoch}
    for n, point in seeds[0].metrics["points"].items():
        tests = {arm: " ".join(f"{s.metrics['points'][n][arm]['test_acc']:.2f}%" for s in seeds) for arm in point}
        shown = ", ".join(f"{arm} {t}" for arm, t in tests.items())
        log(f"semisup@{seeds[0].record['backbone']} {n}/class: {shown}")


def semisup_pretrained(
    params: Params,
    stage_name: str,
    dataset: str,
    backbone: str,
    *,
    upstream: str,
    kind: str,
    arms: list[str],
    scratch_net: str | None,
    variant: str | None = None,
    **details: Any,
) -> dict[str, Any]:
    """Run ``arms`` at every K of semisup.labels_per_class on the model file of stage kind
    ``upstream`` (``pretrain``, ``ssl_pretrain/simclr``, ...), whose file says ``kind``; run as stage
    ``stage_name`` (per ``variant``: the method). ``scratch_net``: the scratch arm's network, None
    when no scratch arm runs (the record then holds no scratch recipe). ``details`` go into the record."""
    cfg = params.semisup
    label = backbone if variant is None else f"{backbone}-{variant}"
    scratch = scratch_net or backbone  # only the scratch arm reads it
    with StageRun(params, stage_name, dataset, backbone, variant=variant) as stage:
        env = stage.env
        check_label_counts(env.prepared, cfg.labels_per_class)  # before any training
        rule = subset_rule(env.prepared.meta, dataset)
        for _ in stage.each_seed(choose_epochs):
            pretrained = env.upstream(upstream)
            ckpt = load_model_file(pretrained, kind=kind)
            names = build_model(ckpt).feature_names
            # The conv head goes where the probes put it (block 2 for NIN), else on the last map.
            layer = conv_head_layer(params.probe.conv_layers, names)

            curves: dict[tuple[int, str], Curves] = {}
            points: list[dict[str, Any]] = []
            for n in cfg.labels_per_class:
                subset = with_labels(env.prepared, n)
                data = env.device_data(subset)
                detail: dict[str, Any] = {
                    "labels_per_class": n,
                    "train_images": len(subset.train.labels),  # K x classes (check_label_counts)
                    "val_images": len(subset.val.labels),
                }
                for arm in arms:
                    env.reseed()  # every arm starts from the same seed
                    task, arm_cfg = arm_task(arm, env, ckpt, layer, scratch)
                    result = stage.fit(
                        task,
                        arm_cfg,
                        part=f"{n}-{arm}",
                        data=data,
                        history=False,
                        desc=f"{stage_name}@{label}-{n}-{arm}",
                        labels_per_class=n,
                        arm=arm,
                        pretrained=file_sha256(pretrained),
                        scratch_backbone=params.backbone_options(scratch) if arm == "scratch" else None,
                        # Several seeds choose one epoch together: each epoch's test accuracy is kept
                        # to be read at that epoch (choose_epochs); one seed reads its best epoch's.
                        test_each_epoch=env.several_seeds,
                    )
                    curves[n, arm] = Curves.of(result, task.outputs[0])
                    # val_acc, test_acc and best_epoch come once the epoch is chosen (choose_epochs).
                    detail[arm] = {
                        "network": scratch_net if arm == "scratch" else f"{backbone} up to {layer} + conv head",
                        "trainable_parameters": trainable_parameters(task),
                        "epochs": arm_cfg.epochs,
                        "steps_per_epoch": result.steps_per_epoch,
                        "wall_time_s": round(result.wall_time_s, 2),
                    }
                points.append(detail)
            metrics: dict[str, Any] = {"points": {}}
            recipes = {"scratch": cfg.scratch, "rotnet": cfg.rotnet} if scratch_net else {"rotnet": cfg.rotnet}
            record = {
                **results.run_details(env, cfg.rotnet),
                "epochs": {arm: (cfg.scratch if arm == "scratch" else cfg.rotnet).epochs for arm in arms},
                "recipe": {k: results.recipe(c) for k, c in recipes.items()},
                "epoch_size": {k: c.epoch_size for k, c in recipes.items()},
                "conv_head_layer": layer,
                **({"scratch_backbone": scratch_net} if scratch_net else {}),
                "selection": "epochs chosen on a validation set of K images per class (over seeds: its mean)",
                "subset": rule,  # which labelled images: the first K of each class, in which order
                "points": points,
                **details,
            }
            stage.write_results(metrics, record, candidates=curves)
    return stage.metrics
