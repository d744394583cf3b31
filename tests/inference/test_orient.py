"""`rotnet orient` (rotnet.inference.orient): turned photos put upright, one output per photo."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from rotnet.data.device import DeviceDataset
from rotnet.errors import RotnetError
from rotnet.inference.orient import orient, plan, rotation_scores
from rotnet.models.registry import create_backbone
from rotnet.params import RuntimeParams, TrainParams
from rotnet.training.engine import Engine
from rotnet.training.tasks import RotationTask
from tests.inference.files import save_model
from tests.synthetic import dataset, draw

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def rotnet_model(tmp_path_factory):
    """A tiny RotNet trained for a few seconds on images with a strong 'up' cue."""
    torch.manual_seed(0)
    data = dataset(n_train=512, n_val=64, n_test=64)
    engine = Engine(DeviceDataset.from_prepared(data, CPU), RuntimeParams(device="cpu"), CPU)
    model = create_backbone("nin", 4, options={"width": 16})
    cfg = TrainParams(epochs=4, batch_size=32, optimizer={"lr": 0.05}, schedule={"milestones": [3]})
    result = engine.fit(RotationTask(model), cfg, 1, "orient-test")
    assert result.outputs["rotation"].val_acc > 90
    return save_model(tmp_path_factory.mktemp("m") / "rotnet.pt", model.cpu(), "pretrain", 4, data)


def test_orient_puts_turned_photos_upright(rotnet_model, tmp_path):
    held_out = draw(24, classes=4, size=16, seed=7).images
    turned = tmp_path / "turned"
    turned.mkdir()
    truth = {}
    for i, img in enumerate(held_out):
        k = i % 4
        Image.fromarray(np.ascontiguousarray(np.rot90(img, k))).save(turned / f"{i:02d}.png")
        truth[f"{i:02d}.png"] = (k, img)
    rows = orient(rotnet_model, [str(turned)], tmp_path / "upright", CPU)
    right = 0
    for row in rows:
        k, original = truth[row["file"].split("/")[-1]]
        upright = np.asarray(Image.open(row["output"]))
        right += row["angle"] == 90 * k and np.array_equal(upright, original)
    assert right >= 22  # of 24
    listed = list(csv.DictReader((tmp_path / "upright" / "orientation.csv").open()))
    assert len(listed) == 24 and {r["angle"] for r in listed} == {"0", "90", "180", "270"}
    assert sorted(p.name for p in turned.iterdir()) == sorted(truth)  # inputs untouched


def test_rotation_scores_align_the_four_passes():
    # A photo turned by 1: the model sees turns 1, 2, 3, 0 for j = 0..3.
    probs = [torch.eye(4)[[(1 + j) % 4]] for j in range(4)]
    assert rotation_scores(probs).argmax(1).tolist() == [1]


def test_orient_refuses_to_write_into_the_input_folder(rotnet_model, tmp_path):
    Image.fromarray(draw(1, size=16).images[0]).save(tmp_path / "a.png")
    with pytest.raises(RotnetError, match="never overwritten"):
        orient(rotnet_model, [str(tmp_path)], tmp_path, CPU)


def test_orient_needs_a_rotnet(classifier, tmp_path):
    with pytest.raises(RotnetError, match="holds a 'supervised' model; orient needs a RotNet model"):
        orient(classifier, [str(tmp_path)], tmp_path / "o", CPU)
    assert not (tmp_path / "o").exists()


def test_plan_mirrors_folders_and_keeps_file_names(tmp_path):
    for name in ("photos/x/a.png", "photos/b.png", "loose/c.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    out = tmp_path / "out"
    pairs = plan([str(tmp_path / "photos"), str(tmp_path / "loose/c.png"), str(tmp_path / "gone.png")], out)
    assert [(str(p.relative_to(tmp_path)), str(t.relative_to(out))) for p, t in pairs] == [
        ("photos/b.png", "b.png"),
        ("photos/x/a.png", "x/a.png"),
        ("loose/c.png", "c.png"),
        ("gone.png", "gone.png"),  # kept for its error row; it claims no output
    ]
    # The same photo twice (as a file and in its folder): once, under its first mention.
    assert len(plan([str(tmp_path / "photos/b.png"), str(tmp_path / "photos")], out)) == 2
    (tmp_path / "other").mkdir()
    (tmp_path / "other/b.png").write_bytes(b"")
    with pytest.raises(RotnetError, match="would both be written to .*b.png; give one folder that holds both"):
        plan([str(tmp_path / "photos/b.png"), str(tmp_path / "other/b.png")], out)
