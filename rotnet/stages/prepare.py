"""prepare@<dataset>: one dataset from its configured source into data/prepared/<dataset>.

Read the source in data/raw/<dataset> (the official files, an archive or an image folder,
put there by `rotnet data add` and tracked by DVC by content), keep the first N
training images per class if asked, carve a stratified, seeded validation split (or use
the source's own) from outside the first ``keep_first_per_class`` images of each class
(the semi-supervised subsets), convert channels, resize and pad, and save uint8 arrays
with their metadata, atomically. The metadata says where the data comes from
(``provenance``: official only when checksum-checked, and the training order) and labels
it with every cut (``description``).

Reads data/raw/<dataset> as params say (datasets.<dataset>). Writes data/prepared/<dataset>.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rotnet import paths
from rotnet.data.prepare import check_final_size, class_counts, dataset_label, read_source, shape_images
from rotnet.data.prepared import Split, channel_stats, save_prepared
from rotnet.data.raw import source_in
from rotnet.data.split import first_per_class, stratified_split, take
from rotnet.errors import RotnetError
from rotnet.locks import StageLock
from rotnet.params import DatasetParams, Params
from rotnet.progress import log
from rotnet.stages.entry import stage_main
from rotnet.stages.table import BY_NAME

SPEC = BY_NAME["prepare"]
SKIPPED_EXAMPLES = 10  # skipped files listed by name in meta


def prepare(name: str, cfg: DatasetParams, source: Path, out_dir: Path, seed: int) -> dict[str, Any]:
    """Prepare dataset ``name`` from ``source`` (rotnet.data.prepare.read_source) into
    ``out_dir`` (written atomically) and return the meta it wrote."""
    started = time.monotonic()
    data, entry, prov = read_source(name, cfg, source)
    check_final_size(name, cfg, *data.train.images.shape[1:3])  # every split has the train size
    num_classes = len(data.class_names)
    train = data.train
    if cfg.train_per_class is not None:
        train = take(train, first_per_class(train.labels, cfg.train_per_class))
    if data.val is not None:  # the source's own validation split (an image folder's val/)
        splits = {"train": train, "val": data.val, "test": data.test}
        val_source = "folder"
    else:
        try:
            train_idx, val_idx = stratified_split(
                train.labels, cfg.val_size, seed, cfg.keep_first_per_class, where=f"datasets.{name}."
            )
        except RotnetError as err:
            raise RotnetError(f"dataset '{name}': {err}") from None
        splits = {"train": take(train, train_idx), "val": take(train, val_idx), "test": data.test}
        val_source = "carved"
    splits = {k: Split(shape_images(s.images, cfg), s.labels) for k, s in splits.items()}
    image_shape = list(splits["train"].images.shape[1:])
    mean, std = channel_stats(splits["train"].images)
    meta: dict[str, Any] = {
        "name": name,
        "description": dataset_label(prov, cfg.train_per_class, cfg.val_size if val_source == "carved" else None),
        "source": entry,
        "provenance": prov,
        "checksum": data.checksum,
        "counts": {k: len(s.labels) for k, s in splits.items()},
        "per_class_counts": {k: class_counts(s.labels, num_classes) for k, s in splits.items()},
        "class_names": list(data.class_names),
        "image_shape": image_shape,
        # Height and width before any padding: inference resizes new images to this.
        "content_size": [cfg.resize] * 2 if cfg.resize else list(train.images.shape[1:3]),
        "mean": mean,
        "std": std,
        "seed": seed,
        "val_source": val_source,
        "val_size": cfg.val_size if val_source == "carved" else None,  # unused with a val/ folder
        "train_per_class": cfg.train_per_class,
        # The first N train images of each class the carve left in train, in the source's order.
        "keep_first_per_class": cfg.keep_first_per_class if val_source == "carved" else None,
        "resize": cfg.resize,
        "pad_to": cfg.pad_to,
        "channels": image_shape[-1],  # the result: cfg.channels when set, else the source's
        "skipped": {"count": len(data.skipped), "examples": data.skipped[:SKIPPED_EXAMPLES]},
    }
    meta = save_prepared(out_dir, splits, meta)
    log(f"prepared {name} in {time.monotonic() - started:.1f}s -> {out_dir}")
    return meta


def run(params: Params, dataset: str) -> dict[str, Any]:
    name = f"{SPEC.name}@{dataset}"
    with StageLock(paths.stage_lock(name), name):  # one writer of data/prepared/<dataset> at a time
        cfg, raw = params.dataset(dataset), paths.raw_dir(dataset)
        source = raw if cfg.source == "download" else source_in(dataset, raw)
        meta = prepare(dataset, cfg, source, paths.prepared_dir(dataset), params.seed)
    counts = meta["counts"]
    log(
        f"prepared {meta['description']}: {counts['train']} train, {counts['val']} val, {counts['test']} test, "
        f"{len(meta['class_names'])} classes, images {'x'.join(map(str, meta['image_shape']))}"
    )
    return meta


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(SPEC, run, argv)


if __name__ == "__main__":
    main()
