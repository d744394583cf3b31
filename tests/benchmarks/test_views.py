"""benchmarks/views.py: every side measured on a tiny batch, its figure the median of its repeats."""

import statistics

import torch


def test_views_benchmark_measures_every_side_and_the_ratios(capsys):
    from benchmarks.views import SIDES, main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on two busy cores spin: a tiny run takes seconds
    try:
        result = main(["--batch", "8", "--steps", "1", "--repeats", "2", "--size", "16"])
    finally:
        torch.set_num_threads(threads)
    assert set(result) == set(SIDES)
    single = result["single-view"]["images_per_s"]
    for side, rec in result.items():
        assert len(rec["repeats"]) == 2 and all(v > 0 for v in rec["repeats"]), side
        assert rec["images_per_s"] == statistics.median(rec["repeats"])
        assert abs(rec["ratio_to_single"] - rec["images_per_s"] / single) < 1e-12
    out = capsys.readouterr().out
    assert "ratio to single-view" in out and "byol" in out
