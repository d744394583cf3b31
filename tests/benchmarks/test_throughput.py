"""The throughput benchmark: every side runs the engine's step, model-only steps the very
graph the engine compiled, each side keeps its repeats and reports their median, and a
broken ceiling is flagged (the figures themselves are not tested)."""

import statistics
import time

import numpy as np
import pytest
import torch

from benchmarks import throughput
from rotnet.training.engine import Engine
from rotnet.training.tasks import RotationTask

CPU = torch.device("cpu")
TINY = "tiny-rotation"


@pytest.fixture
def tiny(monkeypatch):
    """A small NIN rotation workload and 64 random images, on one thread (two threads on two
    busy cores spin: a tiny step takes seconds)."""
    monkeypatch.setitem(throughput.WORKLOADS, TINY, ("tiny NIN", "nin", {"blocks": 3, "width": 8}, RotationTask, True))
    rng = np.random.default_rng(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 64)
    torch.set_num_threads(threads)


@pytest.fixture
def spy(monkeypatch):
    """Every Engine._step call: which engine, task and forward it ran, and its batch's layout."""
    calls = []
    real = Engine._step

    def recorded(self, task, batch, cfg, micro):
        calls.append((id(self), id(task), id(task.net), batch.x.shape, batch.x.stride(), batch.x.dtype))
        return real(self, task, batch, cfg, micro)

    monkeypatch.setattr(Engine, "_step", recorded)
    return calls


def test_every_side_keeps_its_repeats_and_model_only_steps_the_engines_task(tiny, spy):
    images, labels = tiny
    steps, repeats = 2, 3
    sides = throughput.measure_sides(TINY, images, labels, 8, steps, CPU, False, workers=0, repeats=repeats)
    assert set(sides) == set(throughput.SIDES)
    for side, rec in sides.items():
        assert len(rec["repeats"]) == repeats and all(v > 0 for v in rec["repeats"]), side
        assert rec["images_per_s"] == statistics.median(rec["repeats"]), side
        assert rec["steps"] == steps and rec["warmup_steps"] == steps, side
    # Engine (warm-up + repeats epochs) and model-only (warm-up + repeats runs), interleaved,
    # all through one engine, task, forward and batch layout; then plain, through its own.
    n = steps * (1 + repeats)
    shared, plain = spy[: 2 * n], spy[2 * n :]
    assert len(plain) == n and len(set(shared)) == 1
    engine = shared[:1]
    assert set(plain).isdisjoint(engine)  # plain: its own rig, the same step function
    # ...on the engine's rotated batch: 4 x 8 samples, channels-last as the engine's batches, float32
    rotated = torch.empty(32, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    assert plain[0][3:] == (rotated.shape, rotated.stride(), torch.float32)
    assert engine[0][4] == torch.empty(8, 3, 32, 32).contiguous(memory_format=torch.channels_last).stride()


def test_model_only_runs_the_graph_the_engine_compiled(tiny, monkeypatch):
    """With compile on (dynamo, eager backend: fast on the CPU), torch.compile runs once and
    model-only adds no graph: it hits the engine's compiled code, with the same guards."""
    from torch._dynamo.utils import counters

    images, labels = tiny
    real = torch.compile
    compiled = []

    def eager_compile(module, **kw):
        compiled.append(module)
        return real(module, backend="eager")

    monkeypatch.setattr(torch, "compile", eager_compile)

    def fresh_rig():
        torch._dynamo.reset()
        counters.clear()
        return throughput.build_rig(TINY, images, labels, 8, 2, CPU, True)

    try:
        # Engine alone, then model-only on its rig: the graphs fit compiled serve model-only.
        rig = fresh_rig()
        throughput.engine_side(rig, steps=2, repeats=2)
        alone, net = counters["stats"]["unique_graphs"], rig.task.compiled
        assert alone >= 1 and len(compiled) == 1 and net is not None
        throughput.model_only_side(rig, steps=2, repeats=2)
        assert counters["stats"]["unique_graphs"] == alone  # no recompile: the same graph
        assert len(compiled) == 1 and rig.task.compiled is net
        # Interleaved, as measure_sides runs them: no graph beyond what the engine alone compiles.
        rig = fresh_rig()
        sides = throughput.engine_and_model_only(rig, steps=2, repeats=2)
        assert counters["stats"]["unique_graphs"] == alone and len(compiled) == 2  # one compile per rig
        assert len(sides["model-only"]["repeats"]) == 2
    finally:
        torch._dynamo.reset()


def test_a_slow_model_only_is_flagged_as_a_measurement_bug(tiny, monkeypatch, capsys):
    images, labels = tiny
    real = throughput.model_only_step

    def slowed(rig):
        step, batch = real(rig)

        def slow(b):
            time.sleep(0.05)  # a planted slow ceiling: the engine will beat it
            step(b)

        return slow, batch

    monkeypatch.setattr(throughput, "model_only_step", slowed)
    rows = throughput.run([TINY], images, labels, 8, 2, CPU, [False], 0, 1, sides=("engine", "model-only"))
    assert rows[0]["ceiling_broken"] and rows[0]["engine_over_model"] > 1.5
    out = capsys.readouterr()
    assert "WARNING" in out.out and "MEASUREMENT BUG" in out.err
    # Figures within the tolerance are not flagged, and a ratio above it is, for plain too.
    assert not throughput.ceiling({"engine": 102.0, "plain": 90.0, "model-only": 100.0})["ceiling_broken"]
    check = throughput.ceiling({"engine": 90.0, "plain": 104.0, "model-only": 100.0})
    assert check["ceiling_broken"] and "plain at 104%" in check["warning"]


@pytest.fixture
def tiny_methods(monkeypatch, tiny):
    """Tiny NIN SimCLR and BYOL workloads beside the tiny rotation one (the real keys are the
    same code at the study's width: test_the_method_workloads_build_as_the_report_reads_them)."""
    for method in ("simclr", "byol"):
        spec = (f"tiny NIN {method}", "nin", {"blocks": 3, "width": 8}, method, False)
        monkeypatch.setitem(throughput.WORKLOADS, f"tiny-{method}", spec)
    return tiny


def test_a_method_runs_the_engines_own_loss_step_on_two_views_and_has_no_plain_side(tiny_methods, monkeypatch):
    images, labels = tiny_methods
    seen = []
    real = Engine._own_step

    def recorded(self, task, batch):
        seen.append((type(task).__name__, len(batch.views), tuple(batch.views[0].shape)))
        return real(self, task, batch)

    monkeypatch.setattr(Engine, "_own_step", recorded)
    for method, task in (("simclr", "SimCLRTask"), ("byol", "BYOLTask")):
        seen.clear()
        sides = throughput.measure_sides(f"tiny-{method}", images, labels, 8, 1, CPU, False, workers=0, repeats=1)
        for side in ("engine", "model-only"):
            assert sides[side]["images_per_s"] > 0 and len(sides[side]["repeats"]) == 1, (method, side)
        assert "two-view DataLoader" in sides["plain"]["skipped"] and "images_per_s" not in sides["plain"]
        # engine: warm-up + 1 epoch of 1 step; model-only: warm-up + 1 run of 1 step; each two views of 8 images
        assert seen == [(task, 2, (8, 3, 32, 32))] * 4, method
    rows = throughput.run(["tiny-simclr"], images, labels, 8, 1, CPU, [False], 0, 1)
    assert rows[0]["sides"]["plain"] == {"skipped": throughput.skip_reason("tiny-simclr", "plain")}
    assert "engine_over_plain" not in rows[0] and rows[0]["engine_over_model"] > 0


def test_model_only_moves_byols_target_as_fit_does(tiny_methods):
    images, labels = tiny_methods
    rig = throughput.build_rig("tiny-byol", images, labels, 8, 1, CPU, False)
    step, batch = throughput.model_only_step(rig)
    before = [p.detach().clone() for p in rig.task.target.parameters()]
    step(batch)
    assert any(not torch.equal(a, b) for a, b in zip(before, rig.task.target.parameters(), strict=True))


def test_the_method_workloads_build_as_the_report_reads_them():
    from benchmarks.gpu.throughput_phase import EQUAL_COST, KNOWN, lacks_side
    from benchmarks.throughput_rig import METHODS, WORKLOADS, method_of, samples_per_image
    from rotnet.methods.tasks import BYOLTask, SimCLRTask

    assert set(KNOWN) == set(WORKLOADS)  # gpu_check's list (its parent imports no torch) is the rig's
    for key in WORKLOADS:  # and so is its torch-free word on which sides a workload lacks
        for side in throughput.SIDES:
            assert lacks_side(key, side) == (throughput.skip_reason(key, side) is not None), (key, side)
    for key in EQUAL_COST:  # the report's equal-cost keys: f"{backbone}-{method}" and f"{backbone}-rotation"
        backbone, kind = key.rsplit("-", 1)
        assert WORKLOADS[key][1] == backbone and (method_of(key) or "rotation") == kind
        assert f"{backbone}-rotation" in EQUAL_COST
    images = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    rig = throughput.build_rig("resnet18-byol", images, np.zeros(4, dtype=np.int64), 4, 1, CPU, False)
    assert isinstance(rig.task, BYOLTask) and isinstance(rig.cfg, METHODS["byol"]) and rig.cfg.batch_size == 4
    assert rig.cfg.knn_k == 4 and rig.micro_batch() is None  # k capped at the bank; the batch runs whole
    assert samples_per_image("resnet18-byol") == 2 and samples_per_image("resnet18-rotation") == 4
    assert isinstance(throughput.build_rig("nin-simclr", images, np.zeros(4), 4, 1, CPU, False).task, SimCLRTask)
    with pytest.raises(ValueError, match="no plain side"):
        throughput.build_rig("nin-simclr", images, np.zeros(4), 4, 1, CPU, False, plain=True)
