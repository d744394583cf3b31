"""The report's tables: markdown from rows or declared columns, a figure over seeds as
mean ± std, the rows each section picks, and what a run still differs in from the official one.

Most tables are declared as columns, each a header and how to get its value from a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rotnet.report import protocol
from rotnet.report.results import DatasetResults, Record

Column = tuple[str, Callable[[Any], Any]]  # header, value of a row


@dataclass(frozen=True)
class PlusMinus:
    """A figure over several training seeds: mean ± sample std."""

    mean: float
    std: float


def test_figure(row: pd.Series) -> Any:
    """A row's test accuracy, as mean ± std when it was measured over several seeds."""
    std = row.get("test_std")
    return row.test_acc if std is None or pd.isna(std) else PlusMinus(row.test_acc, std)


def fmt(value: Any) -> str:
    if isinstance(value, PlusMinus):
        return f"{value.mean:.2f} ± {value.std:.2f}"
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def column_table(columns: Sequence[Column], items: Iterable[Any]) -> str:
    return table([h for h, _ in columns], [[get(item) for _, get in columns] for item in items])


def best_by_val(rows: pd.DataFrame) -> pd.Series | None:
    """The row with the highest validation accuracy: selection never looks at test."""
    return None if rows.empty else rows.loc[rows.val_acc.idxmax()]


def probe_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows.method == "rotnet probe"]


def one_row(rows: pd.DataFrame, method: str) -> pd.Series:
    return rows[rows.method == method].iloc[0]


def finetuned_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per fine-tuned head (finetune.heads)."""
    return rows[rows.method == "rotnet finetune"]


def paper_differences(ds: DatasetResults, backbone: str, kind: str, rec: Record | None = None) -> str:
    """What still differs between a ``kind`` run of ours and the official one (protocol)."""
    runs = ds.records.get(backbone, {})
    return protocol.differences(
        runs.get(kind) if rec is None else rec,
        kind,
        data_description=ds.data,
        data_official=ds.data_official,
        pretrain=runs.get("pretrain") if kind in ("probe", "finetune", "semisup") else None,
    )
