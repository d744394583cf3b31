import pytest
import torch

from rotnet.errors import RotnetError
from rotnet.models import create_backbone
from rotnet.training.checkpoint import build_from_checkpoint, load_checkpoint, model_state, save_checkpoint


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
    save_checkpoint(path, model_state(model, **_info()))
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary left behind
    ckpt = load_checkpoint(path, kind="pretrain")
    again = build_from_checkpoint(ckpt).eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(model(x), again(x))
    assert ckpt["class_names"] == ["a", "b"]


def test_wrong_kind_and_damaged_files_get_clear_errors(tmp_path):
    model = create_backbone("nin", 4, options={"width": 16})
    path = tmp_path / "model.pt"
    save_checkpoint(path, model_state(model, **_info()))
    with pytest.raises(RotnetError, match="holds a 'pretrain' model, but a 'supervised' model is needed"):
        load_checkpoint(path, kind="supervised")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RotnetError, match="not a readable rotnet model file"):
        load_checkpoint(path)
    with pytest.raises(RotnetError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, other)
    with pytest.raises(RotnetError, match="not a rotnet model file"):
        load_checkpoint(other)
