"""The NIN-beside-the-paper rows, on their own (the section: test_sections.py)."""

from __future__ import annotations

from rotnet.report import paper_tables


def test_finetune_rows_name_the_setting_that_was_run():
    import pandas as pd

    nonlinear = paper_tables.finetune_row(pd.Series({"layer": "block2", "head": "nonlinear", "test_acc": 80.0}), 5)
    assert nonlinear[:2] == ["RotNet fine-tuned (non-linear head)", 91.73]
    assert nonlinear[4] == "RotNet up to block2 + fresh non-linear head, all trained, 5 epochs, our recipe"
    whole = paper_tables.finetune_row(pd.Series({"layer": "", "head": "linear", "test_acc": 80.0}), 5)
    assert whole[1] == 92.17 and whole[4].endswith("(not the paper's setting), our recipe")
    # A linear head on block 2 has no paper figure: none is borrowed from another head.
    linear = paper_tables.finetune_row(pd.Series({"layer": "block2", "head": "linear", "test_acc": 80.0}), 5)
    assert linear[1:3] == [None, "no figure for this head"]
