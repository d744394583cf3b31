"""How each of our runs beside a paper figure differs from the official run behind it.

The official code (gidariss/FeatureLearningRotNet; ../shared/REFERENCE.md) trains in fp32
on all 50,000 CIFAR-10 training images, from PyTorch 0.2's default initialisation, reads
the last RotNet epoch, and reports the best test accuracy over epochs. Every way a run
record of ours departs from that is named here, so that the report can list it beside the
row it affects: nothing about a comparison is left unsaid. Pure functions of run records.
"""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]

OFFICIAL_TRAIN_IMAGES = 50_000  # CIFAR-10's training set; the official code carves nothing off
OFFICIAL_BATCH = 128
# The official epochs of each run behind a paper figure (config/ of the official code).
OFFICIAL_EPOCHS = {"supervised": 200, "pretrain": 200, "probe": 100, "control": 100}
SELECTION = "epochs chosen on validation, test read once (official: best test accuracy over epochs)"


def _official_steps(images: int, batch: int) -> int:
    return -(-images // batch)  # the official loader keeps the last, partial batch


def precision(rec: Record) -> list[str]:
    """bf16 autocast and TF32 against the official fp32."""
    used = rec.get("precision")
    if used is None:
        return ["precision not recorded (run made before it was)"]
    tf32 = rec.get("tf32") or {}
    on = [k for k in ("matmul", "cudnn") if tf32.get(k)]
    tf32_note = f"TF32 on for {' and '.join(on)}" if on else "TF32 off"
    if used != "fp32":
        return [f"{used}, {tf32_note} for what stays fp32 (official: fp32)"]
    return [f"fp32 with {tf32_note} (official: fp32)"] if on else []


def training_images(rec: Record) -> list[str]:
    n = rec.get("train_images")
    if n is None or int(n) == OFFICIAL_TRAIN_IMAGES:
        return []
    batch = int((rec.get("recipe") or {}).get("batch_size", OFFICIAL_BATCH))
    return [
        # Ours: full batches only (rotnet.data.device).
        f"{int(n):,} training images, {int(n) // batch} steps of {batch} per epoch "
        f"(official: {OFFICIAL_TRAIN_IMAGES:,}, {_official_steps(OFFICIAL_TRAIN_IMAGES, OFFICIAL_BATCH)} steps)"
    ]


def epochs(rec: Record, kind: str) -> list[str]:
    official = OFFICIAL_EPOCHS.get(kind)
    ours = rec.get("epochs")
    if official is None or ours is None or int(ours) == official:
        return []
    return [f"{int(ours)} epochs (official: {official})"]


def init(rec: Record) -> list[str]:
    scheme = (rec.get("backbone_options") or {}).get("init")
    if scheme is None:
        return ["initialisation not recorded (run made before it was)"]
    if scheme == "official":
        return []
    return [f"init {scheme} (official: PyTorch 0.2's defaults, BatchNorm scales U(0, 1); backbones.nin.init)"]


def rotnet_epoch(pretrain: Record | None) -> list[str]:
    """Which RotNet epoch a probe or fine-tuning read."""
    if pretrain is None:
        return []
    chosen = pretrain.get("checkpoint", "best")
    if chosen == "last":
        return []
    return [f"reads the best-validation RotNet (epoch {pretrain.get('best_epoch', '?')}; official: the last epoch)"]


def data(description: str, official: bool) -> list[str]:
    return [] if official else [f"data: {description} (official: the CIFAR-10 download)"]


def difference_list(
    rec: Record,
    kind: str,
    *,
    data_description: str,
    data_official: bool,
    pretrain: Record | None = None,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """Every way the run behind ``rec`` (a ``kind`` stage: supervised, pretrain, probe,
    control, finetune, semisup) differs from the official one. ``pretrain``: the RotNet it
    read (probe, finetune, semisup), whose initialisation and epoch are then the ones named."""
    items = [*extra, *data(data_description, data_official), *training_images(rec), *epochs(rec, kind)]
    items += init(pretrain if pretrain is not None else rec)
    items += rotnet_epoch(pretrain)
    items += precision(rec)
    items.append(SELECTION)
    return list(dict.fromkeys(items))


def differences(rec: Record | None, kind: str, **kwargs: Any) -> str:
    """``difference_list`` as one '; '-joined cell ('–' without a record)."""
    return "–" if rec is None else "; ".join(difference_list(rec, kind, **kwargs))


def common(lists: list[list[str]]) -> list[str]:
    """The items every list has, in the first list's order."""
    return [x for x in lists[0] if all(x in other for other in lists[1:])] if lists else []
