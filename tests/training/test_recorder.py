"""rotnet/training/recorder.py: the per-epoch history CSV and the TensorBoard logs of a stage."""

import csv

from rotnet.training.recorder import Recorder

ROWS = [
    {"epoch": 1, "lr": 0.1, "train_loss": 1.23456789, "val_acc/supervised": 40.0},
    {"epoch": 2, "lr": 0.1, "train_loss": 0.98765432, "val_acc/supervised": 55.5},
]


def test_history_holds_every_epoch_rounded_and_logs_replace_an_earlier_run(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "events.out.tfevents.earlier").write_text("a run before this one")
    history = tmp_path / "metrics" / "history.csv"
    recorder = Recorder(history, logs)
    assert not (logs / "events.out.tfevents.earlier").exists()
    for row in ROWS:
        recorder(row)
    recorder.close()
    rows = list(csv.DictReader(history.open()))
    assert list(rows[0]) == list(ROWS[0])
    assert [r["train_loss"] for r in rows] == ["1.234568", "0.987654"] and rows[1]["epoch"] == "2"
    events = list(logs.glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logs))
    acc.Reload()
    assert "epoch" not in acc.Tags()["scalars"]
    loss = acc.Scalars("train_loss")
    assert [e.step for e in loss] == [1, 2] and abs(loss[1].value - 0.98765432) < 1e-6


def test_a_run_with_no_epochs_writes_a_header_only(tmp_path):
    recorder = Recorder(tmp_path / "history.csv", tmp_path / "logs")
    recorder.close()
    assert (tmp_path / "history.csv").read_text() == "epoch\n"


def test_the_history_file_holds_every_epoch_so_far_while_the_stage_runs(tmp_path):
    history = tmp_path / "history.csv"
    recorder = Recorder(history, tmp_path / "logs")
    for n, row in enumerate(ROWS, 1):
        recorder(row)
        rows = list(csv.DictReader(history.open()))  # before close: what `dvc plots show` reads
        assert [r["epoch"] for r in rows] == [str(r["epoch"]) for r in ROWS[:n]]
    recorder.close()
    assert len(list(csv.DictReader(history.open()))) == len(ROWS)


def test_a_fit_without_the_stage_history_writes_logs_only(tmp_path):
    recorder = Recorder(None, tmp_path / "logs" / "random")
    recorder(ROWS[0])
    recorder.close()
    assert list(tmp_path.iterdir()) == [tmp_path / "logs"]
    assert list((tmp_path / "logs" / "random").glob("events.out.tfevents.*"))
