"""Model files (rotnet.models.saved): round trip, byte stability, clear errors."""

from __future__ import annotations

import pytest
import torch

from rotnet.errors import RotnetError
from rotnet.models.registry import create_backbone
from rotnet.models.saved import FORMAT, build_model, file_sha256, load_model_file, model_state, save_model_file


def _info():
    return dict(
        kind="pretrain",
        backbone="nin",
        backbone_options={"width": 16},
        num_classes=4,
        in_chans=3,
        class_names=["a", "b"],
        mean=[0.5] * 3,
        std=[0.2] * 3,
    )


def test_round_trip_rebuilds_the_same_model(tmp_path):
    model = create_backbone("nin", 4, options={"width": 16}).eval()
    path = tmp_path / "m" / "model.pt"
    save_model_file(path, model_state(model, **_info()))
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary left behind
    ckpt = load_model_file(path, kind="pretrain")
    assert ckpt["format"] == FORMAT == "rotnet-model-v1" and ckpt["class_names"] == ["a", "b"]
    again = build_model(ckpt).eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(model(x), again(x))


def test_model_state_is_on_the_cpu_and_detached():
    model = create_backbone("nin", 4, options={"width": 16})
    state = model_state(model, **_info())
    assert state["kind"] == "pretrain" and set(state["state_dict"]) == set(model.state_dict())
    assert all(v.device.type == "cpu" and not v.requires_grad for v in state["state_dict"].values())


def test_the_same_state_gives_the_same_bytes(tmp_path):
    torch.manual_seed(0)
    state = model_state(create_backbone("nin", 4, options={"width": 16}), **_info())
    save_model_file(tmp_path / "a.pt", state)
    save_model_file(tmp_path / "b" / "other-name.pt", state)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b" / "other-name.pt").read_bytes()
    assert file_sha256(tmp_path / "a.pt") == file_sha256(tmp_path / "b" / "other-name.pt")
    torch.manual_seed(1)
    save_model_file(tmp_path / "c.pt", model_state(create_backbone("nin", 4, options={"width": 16}), **_info()))
    assert file_sha256(tmp_path / "c.pt") != file_sha256(tmp_path / "a.pt")


def test_wrong_kind_and_damaged_files_get_clear_errors(tmp_path):
    model = create_backbone("nin", 4, options={"width": 16})
    path = tmp_path / "model.pt"
    save_model_file(path, model_state(model, **_info()))
    with pytest.raises(RotnetError, match="holds a 'pretrain' model, but a 'supervised' model is needed"):
        load_model_file(path, kind="supervised")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RotnetError, match="not a readable rotnet model file"):
        load_model_file(path)
    with pytest.raises(RotnetError, match="not found"):
        load_model_file(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, other)
    with pytest.raises(RotnetError, match="not a rotnet model file"):
        load_model_file(other)
