"""How a model file is made ready for inference (rotnet.inference.model): its kind checked, its
classes named, new images made and normalised the way its training data was."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rotnet.errors import RotnetError
from rotnet.inference.model import load_model
from rotnet.models.registry import create_backbone
from rotnet.models.saved import model_state, save_model_file
from rotnet.rotation import LABELS, rotate
from tests.inference.files import save_model
from tests.synthetic import dataset, draw

CPU = torch.device("cpu")


def test_a_rotnet_model_predicts_the_rotation_labels(tmp_path):
    data = dataset(n_train=16, n_val=4, n_test=4)
    path = save_model(tmp_path / "rotnet.pt", create_backbone("nin", 4, options={"width": 16}), "pretrain", 4, data)
    m = load_model(path, ("pretrain",), CPU, "")
    assert m.kind == "pretrain" and m.rotations == (0, 90, 180, 270)  # a file without the key: the default set
    assert m.class_names == LABELS == ["0", "90", "180", "270"]


def test_a_classifier_keeps_its_class_names_and_scales_the_normalisation_to_0_255(classifier):
    m = load_model(classifier, ("supervised", "finetune"), CPU, "")
    data = dataset(n_train=64, n_val=8, n_test=8)
    assert m.class_names == data.class_names and m.rotations is None and m.mode == "RGB"
    assert torch.allclose(m.mean.flatten(), torch.tensor(data.mean) * 255)
    images = draw(2, size=16).images
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() - m.mean) / m.std
    with torch.no_grad():
        expected = torch.softmax(m.model(x), dim=1)
    probs = m.probabilities(images)
    assert torch.allclose(probs, expected, atol=1e-6) and torch.allclose(probs.sum(1), torch.ones(2))


def test_a_model_of_another_kind_is_refused_with_the_callers_hint(classifier, tmp_path):
    with pytest.raises(RotnetError) as err:
        load_model(classifier, ("pretrain",), CPU, "orient needs a RotNet model")
    assert str(err.value) == f"{classifier} holds a 'supervised' model; orient needs a RotNet model"
    probe = tmp_path / "heads.pt"
    save_model_file(probe, {"kind": "probe", "heads": {}})
    with pytest.raises(RotnetError, match="holds a 'probe' model; use another"):
        load_model(probe, ("supervised",), CPU, "use another")


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
