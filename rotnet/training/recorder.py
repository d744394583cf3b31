"""Per-epoch history (CSV, a DVC plot) and TensorBoard event logs for one stage.

The history file is rewritten (atomically) after every epoch, so `dvc plots show` and the
VS Code extension draw a stage while it runs; a resumed run feeds the checkpoint's epochs
back first, so the file continues without repeating one."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from rotnet.atomic import write_text


class Recorder:
    def __init__(self, history_path: Path | None, logs_dir: Path) -> None:
        """``history_path`` None: TensorBoard logs only (a stage's second and later fits)."""
        self.history_path = history_path
        self.rows: list[dict[str, float]] = []
        # A rerun replaces the stage's logs rather than appending a second run to them.
        shutil.rmtree(logs_dir, ignore_errors=True)
        from torch.utils.tensorboard import SummaryWriter  # slow import: only when training

        self.writer = SummaryWriter(log_dir=str(logs_dir))

    def __call__(self, row: dict[str, float]) -> None:
        self.rows.append(row)
        epoch = int(row["epoch"])
        for key, value in row.items():
            if key != "epoch":
                self.writer.add_scalar(key, value, epoch)
        self.writer.flush()
        self._write_history()

    def close(self) -> None:
        self.writer.close()
        self._write_history()

    def _write_history(self) -> None:
        if self.history_path is None:
            return
        buf = io.StringIO()
        fields = list(self.rows[0]) if self.rows else ["epoch"]
        out = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        out.writeheader()
        for row in self.rows:
            out.writerow({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
        write_text(self.history_path, buf.getvalue())
