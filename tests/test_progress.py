"""Progress: every item passes through, with a log line at most every ``every`` seconds off a terminal."""

from __future__ import annotations

import io

from rotnet import progress as progress_module
from rotnet.progress import duration, log, progress


class _Clock:
    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _run(monkeypatch, capsys, items, step: float, every: float, total=None, later=0):
    monkeypatch.setattr(progress_module.sys, "stderr", io.StringIO())  # not a terminal
    monkeypatch.setattr(progress_module.time, "monotonic", _Clock(step))
    out = list(progress(items, total=total, desc="train", every=every, later=later))
    return out, progress_module.sys.stderr.getvalue().splitlines()


def test_off_a_terminal_it_logs_at_most_every_interval(monkeypatch, capsys):
    out, lines = _run(monkeypatch, capsys, range(10), step=3.0, every=10.0, total=10)
    assert out == list(range(10))
    # Item i is yielded at 3 * (i + 1) s; a line once 10 s passed since the last, with the
    # rate (1 item per 3 s) and the time the rest takes at that rate.
    assert lines == ["train: 4/10 (12s, 0.333/s, ~18s left)", "train: 8/10 (24s, 0.333/s, ~6s left)"]


def test_the_time_left_counts_the_items_that_come_later(monkeypatch, capsys):
    # An epoch of 10 steps with 90 more steps in the stage's later epochs, 30 s a step.
    _, lines = _run(monkeypatch, capsys, range(10), step=30.0, every=100.0, total=10, later=90)
    assert lines[0] == "train: 4/10 (2m 00s, 0.0333/s, ~48m 00s left)"


def test_durations_read_as_a_person_reads_them():
    assert [duration(s) for s in (45, 725, 12000, 190000)] == ["45s", "12m 05s", "3h 20m", "2d 04h"]


def test_fast_loops_log_nothing_and_an_unknown_total_is_left_out(monkeypatch, capsys):
    out, lines = _run(monkeypatch, capsys, iter("abc"), step=0.1, every=10.0)
    assert out == ["a", "b", "c"] and lines == []
    _, lines = _run(monkeypatch, capsys, iter("abc"), step=20.0, every=10.0)
    assert lines[0] == "train: 1 (20s, 0.05/s)"  # no count: no time left


def test_on_a_terminal_the_bar_yields_every_item(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(progress_module.sys, "stderr", Tty())
    monkeypatch.setattr(progress_module.time, "monotonic", _Clock(2.0))
    assert list(progress(range(5), total=5, desc="bar", later=5)) == list(range(5))
    assert "left" in progress_module.sys.stderr.getvalue()  # the stage's time left beside the bar


def test_log_writes_a_line_to_stderr(capsys):
    log("hello")
    captured = capsys.readouterr()
    assert captured.err == "hello\n" and captured.out == ""
