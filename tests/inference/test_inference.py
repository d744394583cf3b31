"""rotnet predict and rotnet orient on images the tests draw."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from rotnet.cli import main
from rotnet.data.device import DeviceDataset
from rotnet.errors import RotnetError
from rotnet.inference.model import load_model
from rotnet.inference.orient import orient, rotation_scores
from rotnet.inference.predict import predict, render
from rotnet.models.registry import create_backbone
from rotnet.models.saved import model_state, save_model_file
from rotnet.params import RuntimeParams, TrainParams
from rotnet.rotation import LABELS, rotate
from rotnet.training.engine import Engine
from rotnet.training.tasks import RotationTask
from tests.synthetic import dataset, draw

CPU = torch.device("cpu")


def _save(path, model, kind, classes, data):
    info = dict(
        kind=kind,
        backbone="nin",
        backbone_options={"width": 16},
        num_classes=classes,
        in_chans=3,
        input_size=[16, 16],
        mean=data.mean,
        std=data.std,
        class_names=data.class_names,
    )
    save_model_file(path, model_state(model, **info))
    return path


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
    return _save(tmp_path_factory.mktemp("m") / "rotnet.pt", model.cpu(), "pretrain", 4, data)


@pytest.fixture
def classifier(tmp_path):
    data = dataset(n_train=64, n_val=8, n_test=8)
    return _save(tmp_path / "sup.pt", create_backbone("nin", 4, options={"width": 16}), "supervised", 4, data)


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


def test_a_rotnet_model_predicts_the_rotation_labels(rotnet_model):
    m = load_model(rotnet_model, ("pretrain",), CPU, "")
    assert m.class_names == LABELS == ["0", "90", "180", "270"]


def test_orient_turns_images_as_training_does(classifier):
    """orient turns the (N, C, H, W) batch with rotation.rotate: that is np.rot90 on the
    (N, H, W, C) images, and the model's outputs are those of the turned images as read."""
    m = load_model(classifier, ("supervised",), CPU, "")
    images = draw(3, size=16).images
    x = m.tensor(images)
    assert x.shape == (3, 3, 16, 16) and x.is_contiguous(memory_format=torch.channels_last)
    for k in range(4):
        turned = np.ascontiguousarray(np.rot90(images, k, axes=(1, 2)))
        assert torch.equal(rotate(x, k), torch.from_numpy(turned).permute(0, 3, 1, 2).float())
        assert torch.equal(m.probabilities(rotate(x, k)), m.probabilities(turned))


def test_rotation_scores_align_the_four_passes():
    # A photo turned by 1: the model sees turns 1, 2, 3, 0 for j = 0..3.
    probs = [torch.eye(4)[[(1 + j) % 4]] for j in range(4)]
    assert rotation_scores(probs).argmax(1).tolist() == [1]


def test_orient_refuses_to_write_into_the_input_folder(rotnet_model, tmp_path):
    Image.fromarray(draw(1, size=16).images[0]).save(tmp_path / "a.png")
    with pytest.raises(RotnetError, match="never overwritten"):
        orient(rotnet_model, [str(tmp_path)], tmp_path, CPU)


def test_predict_any_size_and_format_with_top_k_and_class_names(classifier, tmp_path):
    Image.fromarray(np.zeros((30, 20, 3), np.uint8)).save(tmp_path / "wide.png")
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(tmp_path / "gray.jpg")
    rows = predict(classifier, [str(tmp_path)], CPU, top_k=3)
    assert [r["file"].split("/")[-1] for r in rows] == ["gray.jpg", "wide.png"]
    for r in rows:
        preds = r["predictions"]
        assert len(preds) == 3 and {p["class"] for p in preds} <= {"c0", "c1", "c2", "c3"}
        probs = [p["probability"] for p in preds]
        assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
    table = list(csv.reader(render(rows, "csv", 3).splitlines()))
    assert table[0] == ["file", "class1", "p1", "class2", "p2", "class3", "p3", "error"] and len(table) == 3
    assert json.loads(render(rows, "json", 3))[0]["predictions"][0]["class"] in {"c0", "c1", "c2", "c3"}


def test_bad_images_get_their_own_error_and_the_rest_goes_on(classifier, tmp_path):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "good.png")
    good = (tmp_path / "good.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "notes.jpg").write_text("not an image")
    Image.new("L", (400, 400)).save(tmp_path / "huge.png")
    rows = {r["file"].split("/")[-1]: r for r in predict(classifier, [str(tmp_path)], CPU, max_pixels=100_000)}
    assert "predictions" in rows["good.png"]
    assert "not a readable image" in rows["truncated.png"]["error"]
    assert "not a readable image" in rows["notes.jpg"]["error"]
    assert "over the limit" in rows["huge.png"]["error"]
    rows = {r["file"].split("/")[-1]: r for r in predict(classifier, [str(tmp_path / "missing.png")], CPU)}
    assert rows["missing.png"]["error"] == "no such file"


def test_wrong_model_kind_is_named(classifier, rotnet_model, tmp_path):
    with pytest.raises(RotnetError, match="holds a 'pretrain' model; predict needs"):
        predict(rotnet_model, [str(tmp_path)], CPU)
    with pytest.raises(RotnetError, match="holds a 'supervised' model; orient needs a RotNet model"):
        orient(classifier, [str(tmp_path)], tmp_path / "o", CPU)
    probe = tmp_path / "heads.pt"
    save_model_file(probe, {"kind": "probe", "heads": {}})
    with pytest.raises(RotnetError, match="holds a 'probe' model"):
        orient(probe, [str(tmp_path)], tmp_path / "o", CPU)


def test_cli_predict_writes_csv(classifier, tmp_path, capsys):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "x.png")
    main(
        [
            "predict",
            str(classifier),
            str(tmp_path / "x.png"),
            "--format",
            "csv",
            "--top-k",
            "2",
            "--output",
            str(tmp_path / "p.csv"),
            "--device",
            "cpu",
        ]
    )
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0].startswith("file,class1,p1,class2,p2") and len(lines) == 2


def test_inputs_are_made_like_the_training_data_resized_then_padded(tmp_path):
    data = dataset(n_train=64, n_val=8, n_test=8)
    model = create_backbone("nin", 4, options={"width": 16})
    info = dict(
        kind="supervised",
        backbone="nin",
        backbone_options={"width": 16},
        num_classes=4,
        in_chans=1,
        input_size=[32, 32],
        mean=[0.5],
        std=[0.25],
        class_names=data.class_names,
        preprocess={"content_size": [28, 28], "pad_to": 32, "resize": None, "channels": 1},
    )
    path = tmp_path / "fashion.pt"
    save_model_file(path, model_state(create_backbone("nin", 4, in_chans=1, options={"width": 16}), **info))
    del model
    m = load_model(path, ("supervised",), CPU, "")
    batch = m.prepare([Image.new("L", (56, 56), 200)])
    assert batch.shape == (1, 32, 32, 1)
    assert (batch[0, 2:30, 2:30] == 200).all() and batch[0, :2].max() == 0 and batch[0, :, 30:].max() == 0
