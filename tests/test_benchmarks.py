"""The throughput benchmark's three sides run the same step (timing itself is not tested)."""

import numpy as np
import torch

from benchmarks.throughput import baseline, model_only
from rotnet.models.registry import create_backbone

CPU = torch.device("cpu")


def _data(n: int = 32):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n), [0.5] * 3, [0.25] * 3


def test_model_only_and_plain_train_the_model_on_rotated_batches():
    images, labels, mean, std = _data()
    for side in ("model-only", "plain"):
        torch.manual_seed(0)
        model = create_backbone("nin", 4, options={"blocks": 3, "width": 8})
        before = [p.detach().clone() for p in model.parameters()]
        if side == "model-only":
            rate = model_only(model, images, labels, mean, std, True, 8, 2, CPU, False)
        else:
            rate = baseline(model, images, labels, mean, std, True, 8, 2, 0, CPU)
        assert rate > 0
        assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), before, strict=True)), side
        # channels-last, as the engine runs the model
        assert model.stages["block1"][0].weight.is_contiguous(memory_format=torch.channels_last)


def test_load_check_compares_a_checked_load_with_a_plain_one(capsys):
    from benchmarks.load_check import main

    result = main(["--scale", "0.002", "--repeats", "1"])
    assert result["mib"] > 0 and result["checked_s"] > 0 and result["plain_s"] > 0
    assert abs(result["ratio"] - result["checked_s"] / result["plain_s"]) < 1e-9
    assert "ratio checked / plain" in capsys.readouterr().out
