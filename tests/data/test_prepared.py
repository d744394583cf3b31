"""The prepared-dataset format (rotnet.data.prepared): written whole, loaded only as written.
(Damage found when a stage loads: tests/faults/test_damaged_prepared_data.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rotnet.data.prepared import Split, array_files, channel_stats, load_prepared, save_prepared
from rotnet.errors import RotnetError
from tests.synthetic import draw


def _splits() -> dict[str, Split]:
    return {"train": draw(12, seed=1), "val": draw(4, seed=2), "test": draw(8, seed=3)}


def test_a_saved_dataset_loads_as_it_was_with_counts_and_checksums(tmp_path):
    splits = _splits()
    meta = {"name": "bars", "class_names": ["a", "b", "c", "d"], "mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6]}
    written = save_prepared(tmp_path / "bars", splits, meta)
    assert written["counts"] == {"train": 12, "val": 4, "test": 8}
    assert set(written["files"]) == set(array_files()) and all(
        len(f["sha256"]) == 64 for f in written["files"].values()
    )
    assert json.loads((tmp_path / "bars" / "meta.json").read_text()) == written
    ds = load_prepared(tmp_path / "bars")
    for name in ("train", "val", "test"):
        assert np.array_equal(getattr(ds, name).images, splits[name].images)
        assert np.array_equal(getattr(ds, name).labels, splits[name].labels)
        assert getattr(ds, name).labels.dtype == np.int64
    assert (ds.name, ds.class_names, ds.num_classes, ds.mean, ds.std) == (
        "bars",
        meta["class_names"],
        4,
        [0.1, 0.2, 0.3],
        [0.4, 0.5, 0.6],
    )


def test_loading_refuses_a_missing_or_changed_dataset_naming_the_fix(tmp_path):
    with pytest.raises(RotnetError, match="no prepared dataset at .*missing meta.json.*run the prepare stage first"):
        load_prepared(tmp_path / "none")
    save_prepared(tmp_path / "bars", _splits(), {"class_names": ["a"]})
    labels = tmp_path / "bars" / "test_labels.npy"
    np.save(labels, np.zeros(8, np.int64))  # same size, other content
    with pytest.raises(RotnetError) as err:
        load_prepared(tmp_path / "bars")
    assert "test_labels.npy differs from what prepare wrote" in str(err.value)
    assert "dvc repro -f -s prepare@bars" in str(err.value)


def test_a_split_checks_its_arrays():
    with pytest.raises(ValueError, match="images must be uint8 \\(N, H, W, C\\)"):
        Split(np.zeros((2, 4, 4, 3), np.float32), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="images must be uint8"):
        Split(np.zeros((4, 4, 3), np.uint8), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="labels shape \\(3,\\) does not match 2 images"):
        Split(np.zeros((2, 4, 4, 3), np.uint8), np.zeros(3, np.int64))


def test_channel_stats_are_numpys_over_every_chunk():
    images = np.random.default_rng(0).integers(0, 256, (5000, 2, 2, 3), dtype=np.uint8)  # two chunks
    mean, std = channel_stats(images)
    pixels = images.reshape(-1, 3) / 255.0
    assert np.allclose(mean, pixels.mean(0)) and np.allclose(std, pixels.std(0))
    flat_mean, flat_std = channel_stats(np.full((3, 2, 2, 1), 128, np.uint8))
    assert np.isclose(flat_mean[0], 128 / 255) and 0 < flat_std[0] < 1e-5  # a floor, never a zero to divide by
