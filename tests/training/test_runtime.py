"""rotnet/training/runtime.py: the device params pick, seeding, threads and precision."""

import random

import numpy as np
import pytest
import torch

from rotnet.errors import RotnetError
from rotnet.params import RuntimeParams
from rotnet.training import runtime


def test_auto_picks_cuda_only_when_there_is_one_and_a_missing_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.resolve_device(RuntimeParams(device="auto")) == torch.device("cpu")
    assert runtime.resolve_device(RuntimeParams(device="cpu")) == torch.device("cpu")
    with pytest.raises(RotnetError, match="runtime.device is 'cuda:1' but no CUDA GPU is visible; set runtime.device"):
        runtime.resolve_device(RuntimeParams(device="cuda:1"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.resolve_device(RuntimeParams(device="auto")) == torch.device("cuda")
    assert runtime.resolve_device(RuntimeParams(device="cuda:1")) == torch.device("cuda", 1)


def _draws() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_seed_everything_repeats_every_random_stream():
    runtime.seed_everything(7)
    first = _draws()
    runtime.seed_everything(7)
    assert _draws() == first
    runtime.seed_everything(8)
    assert _draws() != first
    runtime.seed_everything(2**32 + 7)  # numpy takes 32-bit seeds: folded, not refused
    assert _draws()[1] == first[1]


def test_a_generator_is_its_own_seeded_stream():
    cpu = torch.device("cpu")
    a, b = runtime.make_generator(cpu, 3), runtime.make_generator(cpu, 3)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))
    assert not torch.equal(torch.rand(4, generator=runtime.make_generator(cpu, 4)), torch.rand(4, generator=a))


def test_threads_are_set_only_when_asked():
    before = torch.get_num_threads()
    try:
        runtime.setup_threads(RuntimeParams(threads=1))
        assert torch.get_num_threads() == 1
        runtime.setup_threads(RuntimeParams(threads=None))  # unset: left as it is
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_the_cpu_trains_in_fp32_even_with_amp_asked():
    cpu = torch.device("cpu")
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with runtime.autocast(cpu, True):
        assert (a @ b).dtype == torch.float32
    assert runtime.describe_precision(cpu, True) == {"precision": "fp32", "tf32": None}
    assert runtime.describe_device(cpu) == f"CPU ({torch.get_num_threads()} threads)"
