"""Where each stage reads and writes. dvc.yaml declares the same paths (a test checks it).

Three kinds of output per stage:
- the model (``models/<dataset>/<backbone>/<stage>/model.pt``): what later stages read;
- the run record beside it (``run.json``): recipe, host, versions, times, per-class
  accuracy, confusion: kept, but not a DVC metric;
- the metrics (``metrics/runs/...json``): only results a person compares across experiments.

Resumable checkpoints live under ``checkpoints/`` and are not DVC outputs: a queued or
temporary experiment starts without them and DVC does not count that as a change.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
MODELS = Path("models")
METRICS = Path("metrics")
LOGS = Path("logs")
CHECKPOINTS = Path("checkpoints")


def raw_dir(dataset: str) -> Path:
    """The dataset's source, tracked by DVC by content (`rotnet data add`; rotnet.data.raw)."""
    return DATA / "raw" / dataset


def prepared_dir(dataset: str) -> Path:
    return DATA / "prepared" / dataset


def variant_kind(kind: str, variant: str | None) -> str:
    """The kind of a stage that also runs once per variant (finetune: per head, ``finetune/conv``).
    Every function here takes it as the kind, so a variant's outputs sit one folder down:
    models/<dataset>/<backbone>/finetune/conv/model.pt, metrics/runs/<dataset>/<backbone>/finetune/conv.json, ..."""
    return f"{kind}/{variant}" if variant else kind


def model_dir(kind: str, dataset: str, backbone: str) -> Path:
    return MODELS / dataset / backbone / kind


def model_file(kind: str, dataset: str, backbone: str) -> Path:
    return model_dir(kind, dataset, backbone) / "model.pt"


def stage_dir(kind: str, dataset: str, backbone: str | None) -> Path:
    """Where a stage instance keeps its model and run record (small_input: per dataset)."""
    return model_dir(kind, dataset, backbone) if backbone else MODELS / dataset / kind


def seeds_dir(kind: str, dataset: str, backbone: str | None) -> Path:
    """Each training seed's models (study.seeds), a DVC output of every training stage.
    With one seed it holds only ``index.json`` and the outputs stay in the stage folder;
    with several, seed s's model files are in ``seeds/<s>/`` and the stage folder holds the
    first seed's model and the run record averaged over seeds (each seed's under ``per_seed``)."""
    return stage_dir(kind, dataset, backbone) / "seeds"


def probe_heads_file(dataset: str, backbone: str) -> Path:
    return model_dir("probe", dataset, backbone) / "heads.pt"


def record_file(kind: str, dataset: str, backbone: str) -> Path:
    """The run record: how a stage ran (recipe, host, times, per-class figures)."""
    return model_dir(kind, dataset, backbone) / "run.json"


def small_input_record(dataset: str) -> Path:
    return MODELS / dataset / "small_input" / "run.json"


def runs_dir() -> Path:
    """Per-stage metrics; the report depends on this whole folder and writes beside it."""
    return METRICS / "runs"


def metrics_file(kind: str, dataset: str, backbone: str) -> Path:
    return runs_dir() / dataset / backbone / f"{kind}.json"


def small_input_file(dataset: str) -> Path:
    return runs_dir() / dataset / "small_input.json"


def semisup_file(dataset: str, backbone: str) -> Path:
    return metrics_file("semisup", dataset, backbone)


def history_file(kind: str, dataset: str, backbone: str) -> Path:
    return runs_dir() / dataset / backbone / f"{kind}_history.csv"


def stage_lock(stage: str) -> Path:
    """The lock a stage instance (``pretrain@cifar10-nin``) holds while it writes its outputs."""
    return CHECKPOINTS / ".locks" / f"{stage}.lock"


def checkpoint_dir(kind: str, dataset: str, backbone: str) -> Path:
    """Resumable state of one stage instance, outside DVC's outputs (see the module doc)."""
    return CHECKPOINTS / dataset / backbone / kind


def logs_dir(kind: str, dataset: str, backbone: str) -> Path:
    return LOGS / dataset / backbone / kind


def summary_file() -> Path:
    """The headline test accuracies of the study, written by the report (a DVC metric)."""
    return METRICS / "summary.json"


def report_dir() -> Path:
    return METRICS
