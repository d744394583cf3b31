"""The run records of the methods beside RotNet (study.methods: SimCLR, BYOL) and the t-SNE
pictures every probe stage writes, read for the report; and their report.csv rows.

Each method's pretraining record (``ssl_pretrain/<method>``) holds lightly's kNN monitor at the
validation-chosen epoch (k = 200, T = 0.1); its probe record (``ssl_probe/<method>``) has the
same shape as the RotNet probe's, so its rows are the RotNet probe's rows, named for the method.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rotnet import paths
from rotnet.params import Params

Record = dict[str, Any]
LABELS = {"rotnet": "RotNet", "simclr": "SimCLR", "byol": "BYOL"}
RUN_COLUMNS = ("epochs", "wall_time_s", "images_per_s", "device")


def _optional(path: Path) -> Record | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def pretrain_kind(method: str) -> str:
    return paths.variant_kind("ssl_pretrain", method)


def probe_kind(method: str) -> str:
    return paths.variant_kind("ssl_probe", method)


def finetune_kind(method: str, head: str) -> str:
    return paths.variant_kind("ssl_finetune", f"{method}-{head}")


def method_records(params: Params, dataset: str) -> dict[str, dict[str, dict[str, Record]]]:
    """backbone -> method -> {"pretrain", "probe", "finetune/<head>", "semisup": record}, for the
    records found (fine-tuning and the few-labels arms only for finetune.methods, semisup.methods)."""
    out: dict[str, dict[str, dict[str, Record]]] = {}
    for backbone in params.study.backbones:
        for method in params.study.methods:
            parts = [("pretrain", pretrain_kind(method)), ("probe", probe_kind(method))]
            if method in params.finetune.methods:
                parts += [(f"finetune/{h}", finetune_kind(method, h)) for h in params.finetune.heads]
            if method in params.semisup.methods and backbone in params.semisup.backbones:
                parts.append(("semisup", paths.variant_kind("ssl_semisup", method)))
            found = {
                part: rec
                for part, kind in parts
                if (rec := _optional(paths.record_file(kind, dataset, backbone))) is not None
            }
            if found:
                out.setdefault(backbone, {})[method] = found
    return out


def tsne_records(params: Params, dataset: str) -> dict[str, dict[str, Record]]:
    """backbone -> method (rotnet first) -> the t-SNE record its probe stage wrote, when it drew one."""
    out: dict[str, dict[str, Record]] = {}
    for backbone in params.study.backbones:
        files = {"rotnet": paths.model_dir("probe", dataset, backbone) / "tsne.json"}
        files |= {m: paths.model_dir(probe_kind(m), dataset, backbone) / "tsne.json" for m in params.study.methods}
        found = {m: rec for m, f in files.items() if (rec := _optional(f)) is not None and rec.get("images")}
        if found:
            out[backbone] = found
    return out


def method_rows(dataset: str, data: str, backbone: str, method: str, recs: dict[str, Record]) -> list[Record]:
    """report.csv rows of one method on one backbone: its kNN monitor at the validation-chosen
    epoch, each fine-tuned head, then each probe head and kNN per map (as RotNet's, method named)."""
    from rotnet.report.results import std_at  # the one definition; imported here to keep layers flat

    rows = []
    base = {"dataset": dataset, "data": data, "backbone": backbone}

    def row(stage: str, rec: Record, name: str, layer: str, head: str, acc: tuple[Any, Any], *at: str) -> Record:
        figures = {"val_acc": acc[0], "test_acc": acc[1], "test_std": std_at(rec, *at), "paper_acc": None}
        return {**base, "stage": stage, "method": name, "layer": layer, "head": head, **figures} | {
            k: rec[k] for k in RUN_COLUMNS
        }

    if (pre := recs.get("pretrain")) is not None:
        head = f"knn k={pre['knn']['k']} T={pre['knn']['temperature']}"
        acc = (pre["knn_val_acc"], pre["knn_test_acc"])
        rows.append(row(pretrain_kind(method), pre, f"{method} monitor", "", head, acc, "knn_test_acc"))
    for part in (p for p in recs if p.startswith("finetune/")):  # as RotNet's fine-tuned rows
        fine, head = recs[part], part.split("/", 1)[1]
        acc = (fine["val_acc"], fine["test_acc"])
        rows.append(row(finetune_kind(method, head), fine, f"{method} finetune", fine["layer"], head, acc, "test_acc"))
    if (probe := recs.get("probe")) is not None:
        stage = probe_kind(method)
        for layer, heads in probe["layers"].items():
            for head, res in heads.items():
                acc = (res["val_acc"], res["test_acc"])
                rows.append(row(stage, probe, f"{method} probe", layer, head, acc, "layers", layer, head, "test_acc"))
        for layer, res in probe.get("knn", {}).items():
            acc = (res["val_acc"], res["test_acc"])
            rows.append(row(stage, probe, f"{method} knn", layer, "knn", acc, "knn", layer, "test_acc"))
    return rows
