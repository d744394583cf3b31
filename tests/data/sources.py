"""Tests' datasets as the prepare stage reads them: params beside the source to read."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from rotnet.params import DatasetParams
from rotnet.stages.prepare import prepare


class Sourced(NamedTuple):
    cfg: DatasetParams
    source: Path  # the archive or folder (source: download: the folder of the official files)

    def with_cfg(self, **update: Any) -> Sourced:
        return Sourced(self.cfg.model_copy(update=update), self.source)


def sourced(path: Path, **cfg: Any) -> Sourced:
    return Sourced(DatasetParams(**cfg), path)


def in_folder(raw: Path, **cfg: Any) -> Sourced:
    """source: download, the official files in (or fetched into) ``raw``, as in data/raw/<name>."""
    return Sourced(DatasetParams(**cfg), raw)


def prepare_dataset(name: str, src: Sourced, out: Path, seed: int) -> dict[str, Any]:
    return prepare(name, src.cfg, src.source, out, seed)
