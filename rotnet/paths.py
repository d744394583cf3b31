"""Where each stage reads and writes. dvc.yaml declares the same paths (a test checks it)."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
MODELS = Path("models")
METRICS = Path("metrics")
LOGS = Path("logs")
CHECKPOINTS = Path("checkpoints")


def prepared_dir(dataset: str) -> Path:
    return DATA / "prepared" / dataset


def model_dir(kind: str, dataset: str, backbone: str) -> Path:
    return MODELS / dataset / backbone / kind


def runs_dir() -> Path:
    """Per-stage metrics; the report depends on this whole folder and writes beside it."""
    return METRICS / "runs"


def metrics_file(kind: str, dataset: str, backbone: str) -> Path:
    return runs_dir() / dataset / backbone / f"{kind}.json"


def small_input_file(dataset: str) -> Path:
    return runs_dir() / dataset / "small_input.json"


def semisup_file(dataset: str, backbone: str) -> Path:
    return runs_dir() / dataset / backbone / "semisup.json"


def history_file(kind: str, dataset: str, backbone: str) -> Path:
    return runs_dir() / dataset / backbone / f"{kind}_history.csv"


def checkpoint_file(kind: str, dataset: str, backbone: str) -> Path:
    """Resumable state; a DVC output with persist: true, so reruns find it."""
    return CHECKPOINTS / dataset / backbone / kind / "last.pt"


def logs_dir(kind: str, dataset: str, backbone: str) -> Path:
    return LOGS / dataset / backbone / kind


def report_dir() -> Path:
    return METRICS
