"""`rotnet orient` and the RotNet's angle set (pretrain.rotations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rotnet.cli import main
from rotnet.errors import RotnetError
from rotnet.inference.model import load_model
from rotnet.inference.orient import orient
from rotnet.inference.predict import predict
from rotnet.models.registry import create_backbone
from rotnet.models.saved import model_state, save_model_file
from rotnet.rotation import InputView, circle_mask, joint_class_scores, rotate_all
from tests.synthetic import dataset, draw

CPU = torch.device("cpu")


def _rotnet_file(path, rotations=None, kind="pretrain", classes=None, **fields):
    """An (untrained) RotNet model file; ``rotations=None`` is a file saved before the key existed;
    ``fields`` go in as they are (the recorded mask and offset)."""
    data = dataset(n_train=16, n_val=4, n_test=4)
    classes = classes or (len(rotations) if rotations else 4)
    info = dict(
        kind=kind,
        backbone="nin",
        backbone_options={"width": 8},
        num_classes=classes,
        in_chans=3,
        input_size=[16, 16],
        mean=data.mean,
        std=data.std,
        class_names=data.class_names,
        task="rotation",
    )
    if rotations is not None:
        info["rotations"] = rotations
    info.update(fields)
    save_model_file(path, model_state(create_backbone("nin", classes, options={"width": 8}), **info))
    return path


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, img in enumerate(draw(2, size=16).images):
        Image.fromarray(img).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("rotations", [[0, 180], [90, 270], list(range(0, 360, 45))])
def test_orient_refuses_a_rotnet_of_another_angle_set(tmp_path, photos, rotations):
    model = _rotnet_file(tmp_path / "m.pt", rotations)
    with pytest.raises(RotnetError) as err:
        orient(model, [str(photos)], tmp_path / "out", CPU)
    msg = str(err.value)
    assert f"trained on rotations {rotations}" in msg  # the model's set
    assert "[0, 90, 180, 270]" in msg and "pretrain.rotations" in msg  # what orient needs
    assert not (tmp_path / "out").exists()  # refused before writing anything


def test_orient_refusal_is_a_clear_cli_error(tmp_path, photos, capsys):
    model = _rotnet_file(tmp_path / "m.pt", [0, 180])
    with pytest.raises(SystemExit) as exit_:
        main(["orient", str(model), str(photos), "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert exit_.value.code == 2
    assert "trained on rotations [0, 180]; orient needs" in capsys.readouterr().err


@pytest.mark.parametrize("rotations", [None, [0, 90, 180, 270]])
def test_orient_takes_the_four_right_angles_and_older_files_without_the_key(tmp_path, photos, rotations):
    model = _rotnet_file(tmp_path / "m.pt", rotations)
    rows = orient(model, [str(photos)], tmp_path / "out", CPU)
    assert len(rows) == 2 and all(r["angle"] in (0, 90, 180, 270) for r in rows)


def test_a_rotnet_model_names_its_classes_by_its_angles(tmp_path):
    m = load_model(_rotnet_file(tmp_path / "m.pt", [90, 270]), ("pretrain",), CPU, "")
    assert m.rotations == (90, 270) and m.class_names == ["90", "270"]
    old = load_model(_rotnet_file(tmp_path / "old.pt"), ("pretrain",), CPU, "")
    assert old.rotations == (0, 90, 180, 270) and old.class_names == ["0", "90", "180", "270"]


# --- the recorded input view: mask and shared resampling offset --------------------------


def _corners_changed(batch: np.ndarray) -> np.ndarray:
    out = batch.copy()
    out[:, ~circle_mask(batch.shape[1]).numpy()] = 255 - out[:, ~circle_mask(batch.shape[1]).numpy()]
    return out


def test_a_masked_rotnet_is_shown_masked_inputs_and_older_files_are_not(tmp_path, photos):
    batch = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(photos.iterdir())])
    masked = load_model(_rotnet_file(tmp_path / "m.pt", [0, 90, 180, 270], mask="circle"), ("pretrain",), CPU, "")
    assert masked.view == InputView(mask=True)
    assert torch.equal(masked.probabilities(batch), masked.probabilities(_corners_changed(batch)))  # corners unseen
    old = load_model(_rotnet_file(tmp_path / "old.pt", [0, 90, 180, 270]), ("pretrain",), CPU, "")
    assert old.view.identity  # no fields: images as they are, as before
    assert not torch.allclose(old.probabilities(batch), old.probabilities(_corners_changed(batch)))
    rows = orient(tmp_path / "m.pt", [str(photos)], tmp_path / "out", CPU)
    assert len(rows) == 2 and all(r["angle"] in (0, 90, 180, 270) for r in rows)


def test_predict_shows_a_rotation_trained_classifier_its_inputs_as_trained(tmp_path, photos):
    """supervised_rot on the 45-degree eight records its view: predict masks and turns its
    inputs by the shared offset; the same file without the fields is read as before."""
    eight = list(range(0, 360, 45))
    view = InputView.of(eight)
    path = _rotnet_file(tmp_path / "s.pt", eight, kind="supervised_rot", classes=4, mode="multitask", **view.record())
    m = load_model(path, ("supervised_rot",), CPU, "")
    batch = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(photos.iterdir())])
    x = (m.tensor(batch) - m.mean) / m.std
    expected = torch.softmax(m.model(view.apply(x)), dim=1)
    assert m.view == view and torch.allclose(m.probabilities(batch), expected, atol=1e-6)
    assert not torch.allclose(expected, torch.softmax(m.model(x), dim=1), atol=1e-4)  # the view matters here
    rows = predict(path, [str(photos)], CPU)
    assert len(rows) == 2 and all("predictions" in r for r in rows)


def test_a_joint_model_on_the_eight_aggregates_copies_made_as_its_file_says(tmp_path, photos):
    """With the fields: copies at angle + 22.5, masked (as trained now). Without them (a file
    from before): the copies as they were made then, right angles exact."""
    eight = list(range(0, 360, 45))
    batch = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(photos.iterdir())])
    fields = InputView.of(eight).record()
    for name, extra, offset in [("new.pt", fields, 22.5), ("old.pt", {}, 0.0)]:
        path = _rotnet_file(tmp_path / name, eight, kind="supervised_rot", classes=4 * 8, mode="joint", **extra)
        m = load_model(path, ("supervised_rot",), CPU, "")
        assert m.joint_rotations == tuple(eight) and len(m.class_names) == 4
        x = (m.tensor(batch) - m.mean) / m.std
        copies = rotate_all(x, eight, mask=True, offset=offset)[0]
        expected = torch.softmax(joint_class_scores(m.model(copies), len(x), 4, 8).mean(0), dim=1)
        assert torch.allclose(m.probabilities(batch), expected, atol=1e-5), name
        upright = torch.softmax(joint_class_scores(m.model(copies[: len(x)]), len(x), 4, 8)[0], dim=1)
        if offset:  # the upright copy alone: the label-0 copy, as the view makes it
            assert torch.allclose(m.probabilities(batch, upright_only=True), upright, atol=1e-5)
