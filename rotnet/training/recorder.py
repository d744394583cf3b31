"""Per-epoch history (CSV, a DVC plot) and TensorBoard event logs for one stage."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from rotnet.atomic import write_text


class Recorder:
    def __init__(self, history_path: Path, logs_dir: Path) -> None:
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

    def close(self) -> None:
        self.writer.close()
        buf = io.StringIO()
        fields = list(self.rows[0]) if self.rows else ["epoch"]
        out = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        out.writeheader()
        for row in self.rows:
            out.writerow({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
        write_text(self.history_path, buf.getvalue())
