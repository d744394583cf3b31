"""semisup@<dataset>-<backbone>: the paper's figure 5b, accuracy against the number of
labelled images per class, for the backbone trained from scratch on those labels and
for the RotNet backbone up to the conv head's map plus the paper's conv head.

Each (labels per class, arm) pair is one resumable fit. Reads data/prepared/<dataset>
and models/<dataset>/<backbone>/pretrain/model.pt. Writes
models/<dataset>/<backbone>/semisup/run.json and metrics/runs/<dataset>/<backbone>/semisup.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from rotnet import paths
from rotnet.data.prepared import PreparedDataset
from rotnet.data.split import first_per_class, take
from rotnet.errors import RotnetError
from rotnet.models.saved import build_model, file_sha256, load_model_file
from rotnet.params import Params
from rotnet.probing.heads import with_conv_head
from rotnet.progress import log
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME
from rotnet.training.context import StageRun
from rotnet.training.runtime import seed_everything
from rotnet.training.tasks import SupervisedTask

SPEC = BY_NAME["semisup"]
ARMS = ("scratch", "rotnet")


def with_labels(data: PreparedDataset, per_class: int) -> PreparedDataset:
    """The first ``per_class`` training images of each class; validation and test unchanged."""
    keep = first_per_class(data.train.labels, per_class)
    return PreparedDataset(data.name, take(data.train, keep), data.val, data.test, data.meta)


def run(params: Params, dataset: str, backbone: str) -> dict[str, Any]:
    cfg = params.semisup
    if backbone not in params.study.backbones:
        raise RotnetError(f"semisup.backbones names '{backbone}', which study.backbones does not pretrain")
    pretrained = paths.model_file("pretrain", dataset, backbone)
    with StageRun(params, SPEC.name, dataset, backbone) as stage:
        ckpt = load_model_file(pretrained, kind="pretrain")
        names = build_model(ckpt).feature_names
        # The conv head goes where the probes put it (block 2 for NIN), else on the last map.
        layer = next((name for name in params.probe.conv_layers if name in names), names[-1])
        classes = stage.prepared.num_classes
        points: dict[str, dict[str, Any]] = {}
        details: list[dict[str, Any]] = []
        for n in cfg.labels_per_class:
            subset = with_labels(stage.prepared, n)
            data = stage.device_data(subset)
            detail: dict[str, Any] = {"labels_per_class": n, "train_images": len(subset.train.labels)}
            for arm in ARMS:
                seed_everything(params.seed)  # both arms start from the same seed
                if arm == "scratch":
                    model: nn.Module = stage.new_backbone(classes)
                else:
                    model = with_conv_head(build_model(ckpt), layer, classes)
                result = stage.fit(
                    SupervisedTask(model, classes),
                    cfg,
                    part=f"{n}-{arm}",
                    data=data,
                    history=False,
                    desc=f"semisup@{backbone}-{n}-{arm}",
                    labels_per_class=n,
                    pretrained=file_sha256(pretrained),
                )
                out = result.outputs[SupervisedTask.output]
                points.setdefault(str(n), {})[arm] = {
                    "val_acc": round(out.val_acc, 2),
                    "test_acc": round(out.test_acc, 2),
                }
                detail[arm] = {
                    **points[str(n)][arm],
                    "best_epoch": out.best_epoch,
                    "wall_time_s": round(result.wall_time_s, 2),
                }
            log(
                f"semisup@{backbone} {n}/class: scratch {detail['scratch']['test_acc']:.2f}%, "
                f"RotNet + conv head {detail['rotnet']['test_acc']:.2f}%"
            )
            details.append(detail)
        metrics = {"points": points}
        record = {**stage.run_details(cfg), "conv_head_layer": layer, "points": details}
        stage.write_results(metrics, record)
    return metrics


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
