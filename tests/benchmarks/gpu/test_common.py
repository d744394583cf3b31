"""make gpu-check's shared pieces: a result file never overwritten, the paper's schedule at
fewer epochs, a figure or a dash."""

from benchmarks.gpu.common import num, result_path, scaled


def test_a_second_run_never_overwrites_the_first(tmp_path):
    first = result_path(tmp_path, "NVIDIA H200", "2026-11-28")
    assert first.name == "2026-11-28-nvidia-h200.json"
    first.write_text("{}")
    assert result_path(tmp_path, "NVIDIA H200", "2026-11-28").name == "2026-11-28-nvidia-h200-2.json"


def test_paper_schedule_compressed():
    assert scaled([60, 120, 160], 200, 200) == [60, 120, 160]
    assert scaled([60, 120, 160], 200, 40) == [12, 24, 32]
    assert scaled([60, 120, 160], 200, 3) == [1, 2]  # no repeats, none at the last epoch
    assert scaled([60, 120, 160], 200, 1) == []


def test_a_missing_figure_is_a_dash_as_wide_as_its_column():
    assert num(12.345, "8.2f") == "   12.35" and num(None, "8.2f") == "       -" and num(None, ".0%") == "-"
