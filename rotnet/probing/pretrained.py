"""Probing a pretrained backbone, as the probe stage (RotNet) and the ssl_probe stage (SimCLR,
BYOL) both do: every head and the kNN on every frozen map (rotnet.probing.frozen), the heads
saved, the choices made once over training seeds, then a picture of the features.

A RotNet that saw its inputs otherwise than as they are (its model file records a mask or a
shared resampling offset) is probed twice: on the images as they are (the headline figures)
and as it saw them (``rotnet_view``); see rotnet/stages/probe.py.

The picture: a t-SNE (rotnet.probing.tsne) of the pooled test features at the best map chosen
on validation, for a fixed subset of ``probe.tsne_images`` test images (the same subset for
every method), from the first training seed's backbone. It is written beside the heads as
``tsne.json``; the report only draws it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rotnet.atomic import write_json
from rotnet.errors import RotnetError
from rotnet.models.saved import build_model, file_sha256, input_view, load_model_file
from rotnet.params import Params
from rotnet.probing.frozen import ProbeCandidates, choose_probes, probe_frozen, viewed
from rotnet.probing.tsne import tsne_points
from rotnet.training import results
from rotnet.training.context import StageRun

TSNE_FILE = "tsne.json"


def probe_pretrained(
    params: Params, stage_name: str, dataset: str, backbone: str, upstream: str, kind: str, variant: str | None = None
) -> dict[str, Any]:
    """Probe the model file of stage kind ``upstream`` (``pretrain``, ``ssl_pretrain/simclr``, ...), whose
    file says ``kind``; run as stage ``stage_name`` (per ``variant``: the method)."""
    cfg = params.recipe("probe", backbone)
    with StageRun(params, stage_name, dataset, backbone, variant=variant) as stage:
        env, outputs = stage.env, stage.outputs
        for _ in stage.each_seed(choose_probes):
            pretrained = env.upstream(upstream)
            ckpt = load_model_file(pretrained, kind=kind)
            if ckpt["backbone"] != backbone:
                raise RotnetError(
                    f"the pretrained model for {dataset}/{backbone} holds a '{ckpt['backbone']}'; rerun {upstream}"
                )
            probes = probe_frozen(stage, build_model(ckpt), cfg, pretrained=file_sha256(pretrained))
            view = input_view(ckpt)
            seen = None
            if not view.identity:  # the headline stays the images as they are
                env.reseed()  # its heads start as the headline's did
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
            outputs.save(
                outputs.out_dir / "heads.pt",
                {
                    "kind": "probe",
                    "backbone": backbone,
                    "heads": {o: {k: v.cpu() for k, v in h.state_dict().items()} for o, h in probes.heads.items()},
                    "layers": probes.layers,
                    "class_names": env.prepared.class_names,
                },
            )
            # The choices wait for every seed (choose_probes); the heads are saved already.
            lean = ProbeCandidates(
                dataclasses.replace(probes, heads={}),
                None if seen is None else dataclasses.replace(seen, heads={}),
                None if seen is None else view,
            )
            stage.write_results({}, results.run_details(env, cfg, probes.result), candidates=lean)
        if env.world.is_main:
            env.seed = env.seeds[0]
            ckpt = load_model_file(env.upstream(upstream), kind=kind)
            picture = _picture(build_model(ckpt).to(env.device), env, stage.metrics, cfg.tsne_images, params.seed)
            write_json(outputs.top / TSNE_FILE, picture)
    return stage.metrics


def _picture(model: Any, env: Any, metrics: dict[str, Any], images: int, seed: int) -> dict[str, Any]:
    """The t-SNE record: at the probe's best map (validation), or nothing when turned off."""
    if images == 0:
        return {"images": 0, "why": "probe.tsne_images is 0"}
    layer = metrics["best"]["layer"]
    points = tsne_points(model, env.data.test, layer, images, seed, env.params.runtime.eval_batch_size)
    return {**points, "chosen_on": "validation: the probe's best layer", "class_names": env.prepared.class_names}
