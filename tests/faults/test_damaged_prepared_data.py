"""Damaged prepared data: a truncated, edited, missing or unrecorded array is caught
when a stage loads it (size and sha256 recorded in meta.json), with a message that says
to rerun prepare; training never starts on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rotnet import paths
from rotnet.data.prepared import load_prepared
from rotnet.errors import RotnetError
from rotnet.stages import supervised

FOLDER = Path("data/prepared/cifar10")


def truncate(folder: Path) -> None:
    f = folder / "train_images.npy"
    f.write_bytes(f.read_bytes()[:-100])


def edit_pixel(folder: Path) -> None:
    # A valid array of the same shape and size: only the checksum can tell.
    images = np.load(folder / "train_images.npy")
    images[3, 4, 5, 0] ^= 0x40
    np.save(folder / "train_images.npy", images)


def swap_labels(folder: Path) -> None:
    labels = np.load(folder / "val_labels.npy")
    np.save(folder / "val_labels.npy", labels[::-1].copy())


def remove_test_images(folder: Path) -> None:
    (folder / "test_images.npy").unlink()


def drop_checksums(folder: Path) -> None:  # a dataset prepared before checksums were recorded
    meta = json.loads((folder / "meta.json").read_text())
    del meta["files"]
    (folder / "meta.json").write_text(json.dumps(meta))


def edit_counts(folder: Path) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    meta["counts"]["train"] += 1
    (folder / "meta.json").write_text(json.dumps(meta))


def break_meta(folder: Path) -> None:
    (folder / "meta.json").write_text('{"name": "cifar10", "counts": {')


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (truncate, "train_images.npy has .* bytes, .* when prepared \\(truncated or replaced\\)"),
        (edit_pixel, "train_images.npy differs from what prepare wrote \\(its sha256 changed\\)"),
        (swap_labels, "val_labels.npy differs from what prepare wrote"),
        (remove_test_images, "test_images.npy is missing"),
        (drop_checksums, "no size and checksum for every array \\(made by an older rotnet\\?\\)"),
        (edit_counts, "train has 96 images, meta.json says 97"),
        (break_meta, "meta.json is not valid JSON"),
    ],
)
def test_damaged_prepared_data_stops_the_stage_before_training(project, damage, says):
    damage(FOLDER)
    with pytest.raises(RotnetError, match=says) as err:
        supervised.run(project, "cifar10", "nin")
    message = str(err.value)
    assert message.startswith(f"prepared dataset {FOLDER} is damaged: ")
    assert "Nothing was trained on it; rerun the prepare stage (dvc repro -f -s prepare@cifar10" in message
    assert not paths.CHECKPOINTS.joinpath("cifar10").exists() and not Path("models").exists()


def test_intact_prepared_data_loads_with_what_meta_recorded(project):
    data = load_prepared(FOLDER)
    files = data.meta["files"]
    assert sorted(files) == sorted(f"{s}_{p}.npy" for s in ("train", "val", "test") for p in ("images", "labels"))
    for name, entry in files.items():
        assert entry["bytes"] == (FOLDER / name).stat().st_size and len(entry["sha256"]) == 64
    assert data.meta["counts"] == {"train": 96, "val": 32, "test": 32}
