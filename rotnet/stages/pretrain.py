"""pretrain@<dataset>-<backbone>: RotNet pretraining, predicting which rotation of
``pretrain.rotations`` (default 0/90/180/270; rotnet.rotation) each image was shown at,
masked as ``pretrain.mask`` says. The model file and run record name the mask and the
shared resampling offset (``mask``, ``rotation_offset``).

Reads data/prepared/<dataset>. Writes models/<dataset>/<backbone>/pretrain/{model.pt,
run.json}, metrics/runs/<dataset>/<backbone>/pretrain{.json,_history.csv} and
logs/<dataset>/<backbone>/pretrain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet import rotation
from rotnet.params import Params
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training import results
from rotnet.training.context import StageRun
from rotnet.training.tasks import RotationTask

SPEC = BY_NAME["pretrain"]


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    cfg = params.recipe("pretrain", backbone)
    with StageRun(params, SPEC.name, dataset, backbone) as stage:
        env, outputs = stage.env, stage.outputs
        for _ in stage.each_seed():
            angles = list(cfg.rotations)  # label i = angles[i]
            model = env.new_backbone(len(angles))
            task = RotationTask(model, angles, cfg.mask)
            result = stage.fit(task, cfg, keep=cfg.checkpoint)
            out = result.outputs[RotationTask.output]
            # The mask and the shared resampling offset go into the model file: whatever reads
            # this RotNet (probes, predict, orient) can show it inputs as it saw them. Images
            # as they are (the default set, unmasked) write no fields, which reads the same
            # (rotnet.models.saved.input_view) and keeps such a file byte-identical to before.
            # best_epoch: the epoch whose weights these are (the last one with checkpoint: last).
            view = task.view.record()
            fields = {} if task.view.identity else view
            outputs.save_model(
                model, len(angles), best_epoch=out.best_epoch, task="rotation", rotations=angles, **fields
            )
            # images_per_s counts source images; each is seen at every angle.
            metrics, record = results.output_results(
                env,
                out,
                result,
                cfg,
                prefix="rotation_",
                rotations=angles,
                checkpoint=cfg.checkpoint,
                **view,
                per_rotation_test_acc=results.per_class_accuracy(out.test_confusion, rotation.labels_of(angles)),
            )
            stage.write_results(metrics, record)
    return stage.metrics


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
