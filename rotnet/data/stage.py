"""The prepare stage: one dataset from its configured source into data/prepared/<name>."""

from __future__ import annotations

from typing import Any

from rotnet import paths
from rotnet.params import Params
from rotnet.progress import log


def run_prepare(params: Params, dataset: str) -> dict[str, Any]:
    from rotnet.data.prepare import prepare_dataset

    meta = prepare_dataset(dataset, params.dataset(dataset), paths.prepared_dir(dataset), params.seed)
    counts = meta["counts"]
    log(
        f"prepared {meta['description']}: {counts['train']} train, {counts['val']} val, {counts['test']} test, "
        f"{len(meta['class_names'])} classes, images {'x'.join(map(str, meta['image_shape']))}"
    )
    return meta
