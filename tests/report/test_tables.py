"""What the report's tables share: markdown tables, figures over seeds, the rows each section
picks, and what a run still differs in from the official one."""

from __future__ import annotations

import math

import pandas as pd

from rotnet.report import tables


def test_figures_format_to_two_decimals_a_dash_when_missing_and_mean_plus_minus_std():
    assert tables.fmt(68.0) == "68.00" and tables.fmt(3) == "3" and tables.fmt("block2") == "block2"
    assert tables.fmt(None) == "–" and tables.fmt(math.nan) == "–"
    assert tables.fmt(tables.PlusMinus(71.25, 1.5)) == "71.25 ± 1.50"
    one_seed = pd.Series({"test_acc": 71.25, "test_std": math.nan})
    assert tables.test_figure(one_seed) == 71.25
    assert tables.test_figure(pd.Series({"test_acc": 71.25})) == 71.25  # records from before seeds
    assert tables.test_figure(pd.Series({"test_acc": 71.25, "test_std": 1.5})) == tables.PlusMinus(71.25, 1.5)


def test_tables_are_markdown_from_rows_or_declared_columns():
    assert tables.table(["a", "b"], [[1.0, None], ["x", 2]]) == "| a | b |\n|---|---|\n| 1.00 | – |\n| x | 2 |"
    columns = [("name", lambda r: r["n"]), ("twice", lambda r: 2 * r["v"])]
    assert tables.column_table(columns, [{"n": "p", "v": 1.5}]) == "| name | twice |\n|---|---|\n| p | 3.00 |"


def test_rows_are_picked_by_method_and_chosen_on_validation_never_test():
    rows = pd.DataFrame(
        {
            "method": ["rotnet probe", "rotnet probe", "rotnet finetune", "supervised"],
            "val_acc": [70.0, 69.5, 80.0, 70.0],
            "test_acc": [68.0, 74.0, 78.5, 71.25],
        }
    )
    assert list(tables.probe_rows(rows).test_acc) == [68.0, 74.0]
    assert list(tables.finetuned_rows(rows).test_acc) == [78.5]
    assert tables.one_row(rows, "supervised").test_acc == 71.25
    assert tables.best_by_val(tables.probe_rows(rows)).test_acc == 68.0  # not the better test figure (74)
    assert tables.best_by_val(rows[rows.method == "none"]) is None


def test_paper_differences_name_what_still_differs_from_the_official_run(results):
    ds = results.datasets["cifar10"]
    probe = tables.paper_differences(ds, "nin", "probe")
    assert probe.startswith("data: cifar10 (image folder images)")
    assert "reads the best-validation RotNet (epoch 4; official: the last epoch)" in probe  # probes read a RotNet
    supervised = tables.paper_differences(ds, "nin", "supervised")
    assert "RotNet" not in supervised and "3 epochs (official: 200)" in supervised
    shorter = {**ds.records["nin"]["supervised"], "epochs": 1}
    assert "1 epochs (official: 200)" in tables.paper_differences(ds, "nin", "supervised", shorter)
