"""Everything the report shows, read once from the study's run records.

The report never reads ``metrics/runs/*.json`` (results only, for `dvc metrics diff`):
each stage's run record (``models/<dataset>/<backbone>/<stage>/run.json``) holds the
same figures plus how the run went (epochs, times, device, confusion). ``collect``
reads them for every dataset x backbone of the study into one ``StudyResults``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.models.registry import resolve_arch
from rotnet.params import Params
from rotnet.report.method_results import method_records, method_rows, tsne_records
from rotnet.report.paper import COMPARISON, FINETUNED, NIN_SUPERVISED, PAPER_DATASET, nin_probe_figure

KINDS = ("supervised", "pretrain", "probe")  # the stages run per dataset x backbone, besides finetune's heads
FINETUNE = "finetune"


def finetune_kinds(params: Params) -> tuple[str, ...]:
    """Where each fine-tuned model of the study is: ``finetune/<head>`` per head of finetune.heads."""
    return tuple(paths.variant_kind(FINETUNE, h) for h in params.finetune.heads)


def study_kinds(params: Params) -> tuple[str, ...]:
    """Every run record of a dataset x backbone: the stages of KINDS and each fine-tuned head."""
    return (*KINDS, *finetune_kinds(params))


def is_classifier(kind: str) -> bool:
    """The supervised model and each fine-tuned one are full classifiers."""
    return kind == "supervised" or kind.startswith(f"{FINETUNE}/")


RUN_COLUMNS = ("epochs", "wall_time_s", "images_per_s", "device")  # how each accuracy was measured

Record = dict[str, Any]


@dataclass(frozen=True)
class Classifier:
    """The classifier a dataset's section shows predictions of, chosen on validation."""

    kind: str  # where its files are (rotnet.paths): supervised or finetune/<head>
    backbone: str
    record: Record

    @property
    def stage(self) -> str:
        """The kind its model file records (``finetune`` for every head)."""
        return self.kind.split("/", 1)[0]


@dataclass(frozen=True)
class DatasetResults:
    dataset: str
    data: str  # what the figures were measured on, e.g. "cifar10 (image folder images)"
    records: dict[str, dict[str, Record]]  # backbone -> kind (study_kinds) -> run record
    histories: dict[str, dict[str, pd.DataFrame]]  # backbone -> stage -> per-epoch history
    semisup: list[Record] = field(default_factory=list)  # one record per semisup backbone found
    baselines: dict[str, Record] = field(default_factory=dict)  # study.baselines found: backbone -> record
    controls: dict[str, Record] = field(default_factory=dict)  # control records found: backbone -> record
    # supervised_rot and robustness records found: backbone -> record (optional sections)
    supervised_rot: dict[str, Record] = field(default_factory=dict)
    robustness: dict[str, Record] = field(default_factory=dict)
    small_input: Record | None = None
    # study.methods found: backbone -> method -> {"pretrain", "probe"} records; and the t-SNE
    # pictures: backbone -> method (rotnet first) -> points (rotnet.report.method_results)
    methods: dict[str, dict[str, dict[str, Record]]] = field(default_factory=dict)
    tsne: dict[str, dict[str, Record]] = field(default_factory=dict)

    @property
    def data_official(self) -> bool:
        """Whether the images are the official files (their checksum matched), from the run records."""
        first = next(iter(self.records.values()), {}).get("supervised", {})
        return bool(first.get("data_official", False))

    @property
    def backbones(self) -> list[str]:
        return list(self.records)

    @property
    def best_classifier(self) -> Classifier:
        """Highest validation accuracy over every backbone's supervised and fine-tuned models
        (ties go to the later kind name, then backbone name); test accuracy plays no part."""
        _, kind, backbone = max(
            (runs[kind]["val_acc"], kind, b) for b, runs in self.records.items() for kind in runs if is_classifier(kind)
        )
        return Classifier(kind, backbone, self.records[backbone][kind])

    @property
    def semisup_points(self) -> list[Record]:
        """Every semisup point, each labelled with its backbone; over several seeds each point
        carries its std tree under ``std`` (rotnet.seeds)."""
        out = []
        for r in self.semisup:
            stds = (r.get("std") or {}).get("points") or [None] * len(r["points"])
            for p, std in zip(r["points"], stds, strict=True):
                out.append({"backbone": r["backbone"], **p, **({"std": std} if std else {})})
        return out


@dataclass(frozen=True)
class StudyResults:
    # One row per measured accuracy (written as metrics/report.csv): dataset, data, backbone,
    # stage, method, layer, head, val_acc, test_acc, test_std (over training seeds; empty with
    # one seed), paper_acc, epochs, wall_time_s,
    # images_per_s, device.
    accuracies: pd.DataFrame
    datasets: dict[str, DatasetResults]  # in params.study.datasets order


def read_record(path: Path, stage: str, subject: str) -> Record:
    if not path.is_file():
        raise RotnetError(f"{path} is missing; run the '{stage}' stage for {subject} first (dvc repro)")
    return json.loads(path.read_text(encoding="utf-8"))


def _optional(path: Path) -> Record | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def paper_probe_figure(params: Params, backbone: str, layer: str, head: str) -> float | None:
    """The paper's figure for this NIN probe, when it published one."""
    arch, opts = resolve_arch(backbone, params.backbone_options(backbone))
    if arch != "nin":
        return None
    blocks = int(opts.get("blocks", 4))
    if head == "nonlinear":
        return nin_probe_figure(blocks, layer)
    if head == "conv" and blocks == 4 and layer == "block2":
        return COMPARISON["RotNet + conv head"]
    return None


def paper_supervised_figure(params: Params, backbone: str) -> float | None:
    """The paper's supervised NIN (92.80) is a 3-block NIN: only that architecture gets it."""
    arch, opts = resolve_arch(backbone, params.backbone_options(backbone))
    return NIN_SUPERVISED if arch == "nin" and int(opts.get("blocks", 4)) == 3 else None


RANDOM_CONV_BLOCK2 = "random init + conv head"


def std_at(rec: Record, *keys: str) -> float | None:
    """The std over training seeds of the figure at ``keys`` (rotnet.seeds), if the record has one."""
    node: Any = rec.get("std")
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return float(node) if isinstance(node, int | float) else None


def control_rows(params: Params, dataset: str, backbone: str, rec: Record, data: str) -> list[Record]:
    """The report.csv rows of one control record: each control's heads and kNN per map."""
    arch, opts = resolve_arch(backbone, params.backbone_options(backbone))
    paper_nin = dataset == PAPER_DATASET and arch == "nin" and int(opts.get("blocks", 4)) == 4
    rows = []
    for init in rec["inits"]:
        run = {"epochs": rec["epochs"], "device": rec["device"]}
        run |= {"wall_time_s": rec[init]["wall_time_s"], "images_per_s": rec[init]["images_per_s"]}
        base = {"dataset": dataset, "data": data, "backbone": backbone, "stage": "control", **run}
        for layer, heads in rec[init]["layers"].items():
            for head, res in heads.items():
                is_paper = paper_nin and init == "random" and head == "conv" and layer == "block2"
                ref = COMPARISON[RANDOM_CONV_BLOCK2] if is_paper else None
                std = std_at(rec, init, "layers", layer, head, "test_acc")
                figures = {"val_acc": res["val_acc"], "test_acc": res["test_acc"], "test_std": std, "paper_acc": ref}
                rows.append({**base, "method": f"{init} probe", "layer": layer, "head": head, **figures})
        for layer, res in rec[init]["knn"].items():
            std = std_at(rec, init, "knn", layer, "test_acc")
            figures = {"val_acc": res["val_acc"], "test_acc": res["test_acc"], "test_std": std, "paper_acc": None}
            rows.append({**base, "method": f"{init} knn", "layer": layer, "head": "knn", **figures})
    # Columns in the report.csv order.
    return [{k: r[k] for k in (*ROW_KEYS, *RUN_COLUMNS)} for r in rows]


ROW_KEYS = (
    *("dataset", "data", "backbone", "stage", "method", "layer", "head"),
    *("val_acc", "test_acc", "test_std", "paper_acc"),
)


def baseline_row(params: Params, dataset: str, backbone: str, rec: Record) -> Record:
    """The report.csv row of a study.baselines backbone (labels only)."""
    ref = paper_supervised_figure(params, backbone) if dataset == PAPER_DATASET else None
    return {
        "dataset": dataset,
        "data": rec["data"],
        "backbone": backbone,
        "stage": "baseline",
        "method": "supervised baseline",
        "layer": "",
        "head": "",
        "val_acc": rec["val_acc"],
        "test_acc": rec["test_acc"],
        "test_std": std_at(rec, "test_acc"),
        "paper_acc": ref,
        **{k: rec[k] for k in RUN_COLUMNS},
    }


def paper_finetune_figure(params: Params, backbone: str, layer: str, head: str) -> float | None:
    """The paper's fine-tuned figure, for its setting only: 4-block NIN, blocks 1-2 plus a
    fresh conv (92.17) or non-linear (91.73) head. Whole-network fine-tuning has none."""
    arch, opts = resolve_arch(backbone, params.backbone_options(backbone))
    if arch != "nin" or int(opts.get("blocks", 4)) != 4 or layer != "block2":
        return None
    return COMPARISON[FINETUNED[head]] if head in FINETUNED else None


def accuracy_rows(params: Params, dataset: str, backbone: str, runs: dict[str, Record]) -> list[Record]:
    """The report.csv rows of one dataset x backbone: supervised, rotation, each fine-tuned head,
    each probe head and each kNN probe."""
    sup, pre, probe = (runs[k] for k in KINDS)
    paper = dataset == PAPER_DATASET  # the paper's figures are CIFAR-10's only
    base = {"dataset": dataset, "data": sup["data"], "backbone": backbone}

    def row(
        stage: str, rec: Record, method: str, layer: str, head: str, acc: tuple[Any, Any], ref: Any, *at: str
    ) -> Record:
        # ``at``: where the test figure sits in the record, to find its std over seeds.
        figures = {"val_acc": acc[0], "test_acc": acc[1], "test_std": std_at(rec, *at), "paper_acc": ref}
        run = {k: rec[k] for k in RUN_COLUMNS}
        return {**base, "stage": stage, "method": method, "layer": layer, "head": head, **figures, **run}

    nin_paper = paper_supervised_figure(params, backbone) if paper else None
    rotation = (pre["rotation_val_acc"], pre["rotation_test_acc"])
    rows = [
        row("supervised", sup, "supervised", "", "", (sup["val_acc"], sup["test_acc"]), nin_paper, "test_acc"),
        row("pretrain", pre, "rotation pretext", "", "rotation", rotation, None, "rotation_test_acc"),
    ]
    for kind in (k for k in runs if k.startswith(f"{FINETUNE}/")):  # one row per fine-tuned head
        fine = runs[kind]
        fine_layer, fine_head = fine["layer"], fine["head"]
        fine_ref = paper_finetune_figure(params, backbone, fine_layer, fine_head) if paper and fine_layer else None
        fine_acc = (fine["val_acc"], fine["test_acc"])
        rows.append(row(kind, fine, "rotnet finetune", fine_layer, fine_head, fine_acc, fine_ref, "test_acc"))
    for layer, heads in probe["layers"].items():
        for head, res in heads.items():
            ref = paper_probe_figure(params, backbone, layer, head) if paper else None
            acc = (res["val_acc"], res["test_acc"])
            rows.append(row("probe", probe, "rotnet probe", layer, head, acc, ref, "layers", layer, head, "test_acc"))
    # The weighted kNN probe on each pooled map (absent from records written before it existed).
    for layer, res in probe.get("knn", {}).items():
        acc = (res["val_acc"], res["test_acc"])
        rows.append(row("probe", probe, "rotnet knn", layer, "knn", acc, None, "knn", layer, "test_acc"))
    return rows


def supervised_rot_rows(dataset: str, backbone: str, rec: Record) -> list[Record]:
    """The supervised_rot stage's rows: aggregated (joint) or class-head (multitask)
    accuracy, and for joint also the upright copy alone."""
    base = {"dataset": dataset, "data": rec["data"], "backbone": backbone, "stage": "supervised_rot", "layer": ""}
    run = {k: rec[k] for k in RUN_COLUMNS}
    mode = rec["mode"]
    rows = [
        {
            **base,
            "method": f"supervised+rot ({mode})",
            "head": "",
            "val_acc": rec["val_acc"],
            "test_acc": rec["test_acc"],
            "test_std": std_at(rec, "test_acc"),
            "paper_acc": None,
            **run,
        }
    ]
    if mode == "joint":
        rows.append(
            {
                **rows[0],
                "method": "supervised+rot (joint, upright copy only)",
                "val_acc": rec["upright_val_acc"],
                "test_acc": rec["upright_test_acc"],
                "test_std": std_at(rec, "upright_test_acc"),
            }
        )
    return rows


def _histories(params: Params, dataset: str, backbone: str) -> dict[str, pd.DataFrame]:
    files = {k: paths.history_file(k, dataset, backbone) for k in study_kinds(params)}
    return {k: pd.read_csv(f) for k, f in files.items() if f.is_file()}


def _stage_name(kind: str, dataset: str, backbone: str) -> str:
    """The stage that writes ``kind``'s record; for a head, its DVC instance (finetune@<ds>-<bb>-conv)."""
    stage, _, variant = kind.partition("/")
    return f"{stage}@{dataset}-{backbone}-{variant}" if variant else kind


def collect_dataset(params: Params, dataset: str) -> DatasetResults:
    records = {
        b: {
            k: read_record(paths.record_file(k, dataset, b), _stage_name(k, dataset, b), f"{dataset}/{b}")
            for k in study_kinds(params)
        }
        for b in params.study.backbones
    }
    # semisup and small_input are optional sections: shown when their records exist.
    # Semisup backbones are listed by name, as the report always has.
    semisup = [paths.record_file("semisup", dataset, b) for b in sorted(params.semisup.backbones)]
    baselines = {b: _optional(paths.record_file("supervised", dataset, b)) for b in params.study.baselines}
    controls = {b: _optional(paths.record_file("control", dataset, b)) for b in params.study.backbones}
    extra = {
        k: {b: _optional(paths.record_file(k, dataset, b)) for b in params.study.backbones}
        for k in ("supervised_rot", "robustness")
    }
    return DatasetResults(
        dataset=dataset,
        data=records[params.study.backbones[0]]["supervised"]["data"],
        records=records,
        histories={b: _histories(params, dataset, b) for b in params.study.backbones},
        semisup=[r for r in map(_optional, semisup) if r is not None],
        small_input=_optional(paths.small_input_record(dataset)),
        baselines={b: r for b, r in baselines.items() if r is not None},
        controls={b: r for b, r in controls.items() if r is not None},
        supervised_rot={b: r for b, r in extra["supervised_rot"].items() if r is not None},
        robustness={b: r for b, r in extra["robustness"].items() if r is not None},
        methods=method_records(params, dataset),
        tsne=tsne_records(params, dataset),
    )


def collect(params: Params) -> StudyResults:
    datasets = {d: collect_dataset(params, d) for d in params.study.datasets}
    rows = [
        row
        for d, res in datasets.items()
        for b, runs in res.records.items()
        for row in accuracy_rows(params, d, b, runs)
    ]
    rows += [
        row
        for d, res in datasets.items()
        for b, rec in res.controls.items()
        for row in control_rows(params, d, b, rec, res.data)
    ]
    rows += [
        row
        for d, res in datasets.items()
        for b, methods in res.methods.items()
        for m, recs in methods.items()
        for row in method_rows(d, res.data, b, m, recs)
    ]
    rows += [baseline_row(params, d, b, rec) for d, res in datasets.items() for b, rec in res.baselines.items()]
    rows += [
        row
        for d, res in datasets.items()
        for b, rec in res.supervised_rot.items()
        for row in supervised_rot_rows(d, b, rec)
    ]
    return StudyResults(accuracies=pd.DataFrame(rows), datasets=datasets)


def headline(results: StudyResults) -> dict[str, dict[str, dict[str, Any]]]:
    """The study's headline test accuracies, dataset -> backbone -> figure: supervised, rotation,
    the validation-chosen best probe, each fine-tuned head (``finetune_<head>``) and, per method of
    study.methods, its kNN monitor and best probe (``simclr_knn``, ``simclr_probe``). Written as one
    metrics file, so `dvc exp show` shows them side by side. Over several seeds: means, std under ``std``."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, ds in results.datasets.items():
        out[name] = {}
        for backbone, runs in ds.records.items():
            where = {
                "supervised": (runs["supervised"], ("test_acc",)),
                "rotation": (runs["pretrain"], ("rotation_test_acc",)),
                "probe": (runs["probe"], ("best", "test_acc")),
            }
            for kind in (k for k in runs if k.startswith(f"{FINETUNE}/")):
                where[kind.replace("/", "_")] = (runs[kind], ("test_acc",))
            for method, recs in ds.methods.get(backbone, {}).items():  # SimCLR, BYOL beside RotNet
                if "pretrain" in recs:
                    where[f"{method}_knn"] = (recs["pretrain"], ("knn_test_acc",))
                if "probe" in recs:
                    where[f"{method}_probe"] = (recs["probe"], ("best", "test_acc"))
            figures: dict[str, Any] = {}
            for key, (rec, at) in where.items():
                value: Any = rec
                for k in at:
                    value = value[k]
                figures[key] = value
            stds = {k: std_at(rec, *at) for k, (rec, at) in where.items()}
            if any(v is not None for v in stds.values()):
                figures["std"] = {k: v for k, v in stds.items() if v is not None}
            if backbone in ds.supervised_rot:
                figures["supervised_rot"] = ds.supervised_rot[backbone]["test_acc"]
            out[name][backbone] = figures
    return out
