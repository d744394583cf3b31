"""What every part of make gpu-check shares: the paths, the log, the device, file naming
and the paper's schedule at fewer epochs."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"  # each part runs as `SCRIPT --phase NAME`
SHARED_FULL = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"
PAPER_PRETRAIN_EPOCHS = 200
PAPER_PROBE_EPOCHS = 100


def log(msg: str) -> None:
    print(f"[gpu-check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def device_of(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def result_path(out_dir: Path, device_name: str, date: str) -> Path:
    """benchmarks/results/<date>-<device>.json; a later run the same day gets -2, -3..."""
    base = f"{date}-{slug(device_name)}"
    path, n = out_dir / f"{base}.json", 2
    while path.exists():
        path, n = out_dir / f"{base}-{n}.json", n + 1
    return path


def scaled(milestones: list[int], paper_epochs: int, epochs: int) -> list[int]:
    """The paper's step milestones at the same fractions of a shorter run."""
    out: list[int] = []
    for m in milestones:
        e = max(1, round(m * epochs / paper_epochs))
        if e < epochs and (not out or e > out[-1]):
            out.append(e)
    return out


def scale_paper_epochs(raw: dict[str, Any], pre_epochs: int, probe_epochs: int) -> None:
    """Set raw params' pretrain and probe epochs, their step milestones (and the probe heads'
    own) scaled from the paper's 200 and 100 epochs."""
    pre, probe = raw["pretrain"], raw["probe"]
    pre["schedule"]["milestones"] = scaled(pre["schedule"]["milestones"], PAPER_PRETRAIN_EPOCHS, pre_epochs)
    pre["epochs"] = pre_epochs
    probe["schedule"]["milestones"] = scaled(probe["schedule"]["milestones"], PAPER_PROBE_EPOCHS, probe_epochs)
    probe["head_milestones"] = {
        k: scaled(v, PAPER_PROBE_EPOCHS, probe_epochs) for k, v in probe["head_milestones"].items()
    }
    probe["epochs"] = probe_epochs


def num(v: Any, fmt: str) -> str:
    """``v`` formatted, or a dash as wide as the format asks for."""
    if isinstance(v, (int, float)):
        return format(v, fmt)
    width = re.match(r"\d*", fmt).group()
    return "-".rjust(int(width or 0))


def read_json(path: Path, default: Any = None) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else default


def write_json(path: Path, data: Any) -> None:
    """Atomically (rotnet.atomic, imported only when a file is written)."""
    from rotnet.atomic import write_json as atomic

    atomic(path, data)
