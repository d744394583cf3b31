"""The paper run's recipe: the calls still needed, filled from the measured epoch times."""

from __future__ import annotations

from types import SimpleNamespace

from benchmarks.gpu.paper_report import plan_calls


def test_the_recipe_fills_each_call_from_the_measured_epoch_times():
    params = SimpleNamespace(pretrain=SimpleNamespace(epochs=200), probe=SimpleNamespace(epochs=100))
    measured = {
        "prepare": {"done": True},
        "pretrain": {"epoch": 0, "epoch_s": [2.0], "calls": {"1": {"first_epoch_s": 12.0}}},
    }
    plan = plan_calls("paper", measured, params, 540)
    assert plan["startup_s"] == 10.0 and plan["not_measured"] == ["probe 100 epochs"]
    assert plan["calls"] == [{"seconds": 410.0, "epochs": {"pretrain": 200}}]
    measured["probe"] = {"epoch": 0, "epoch_s": [3.0, 3.0], "calls": {}}
    plan = plan_calls("paper", measured, params, 540)
    usable = 540 - 15  # less the child's grace and the closing write
    first = (usable - 410) // 3
    assert plan["calls"] == [
        {"seconds": 410.0 + 3 * first, "epochs": {"pretrain": 200, "probe": first}},
        {"seconds": 10.0 + 3 * (100 - first), "epochs": {"probe": 100 - first}},
    ]
