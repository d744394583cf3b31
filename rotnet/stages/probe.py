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
from typing import Any

from rotnet.errors import RotnetError
from rotnet.models.saved import build_model, file_sha256, input_view, load_model_file
from rotnet.params import Params
from rotnet.probing.frozen import ProbeCandidates, choose_probes, probe_frozen, viewed
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training import results
from rotnet.training.context import StageRun

SPEC = BY_NAME["probe"]


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    cfg = params.recipe("probe", backbone)
    with StageRun(params, SPEC.name, dataset, backbone) as stage:
        env, outputs = stage.env, stage.outputs
        for _ in stage.each_seed(choose_probes):
            pretrained = env.upstream("pretrain")
            ckpt = load_model_file(pretrained, kind="pretrain")
            if ckpt["backbone"] != backbone:
                raise RotnetError(
                    f"the pretrained model for {dataset}/{backbone} holds a '{ckpt['backbone']}'; rerun pretrain"
                )
            probes = probe_frozen(stage, build_model(ckpt), cfg, pretrained=file_sha256(pretrained))
            view = input_view(ckpt)
            seen = None
            if not view.identity:  # see the module docstring; the headline stays the images as they are
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
    return stage.metrics


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
