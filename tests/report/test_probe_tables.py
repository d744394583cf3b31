"""The probe tables, on their own: supervised vs RotNet, probe accuracy per layer, the controls
(the report that assembles them: test_sections.py)."""

from __future__ import annotations

import pandas as pd

from rotnet.report import probe_tables
from rotnet.report.results import StudyResults


def studied(results: StudyResults, dataset: str, accuracies: pd.DataFrame | None = None) -> pd.DataFrame:
    """A dataset's rows of its studied backbones, as the report hands them to the probe tables."""
    df = results.accuracies if accuracies is None else accuracies
    return df[(df.dataset == dataset) & df.backbone.isin(results.datasets[dataset].records)]


def test_summary_table_picks_the_probe_on_validation(results):
    part = "\n".join(probe_tables.summary_section(studied(results, "cifar10")))
    assert (
        "| backbone | supervised test | rotation test | best probe (val-selected) | probe test "
        "| best finetuned (val-selected) | finetuned test | probe − supervised | finetuned − supervised |"
    ) in part
    # block2 nonlinear has the best validation accuracy (70); conv on block2 (test 74) and
    # block3 nonlinear (test 72) would win on test. Fine-tuned: the conv head (val 80, test
    # 78.5) over the non-linear one (val 77, test 79.5).
    assert "| nin | 71.25 | 89.50 | block2 (nonlinear) | 68.00 | block2 (conv) | 78.50 | -3.25 | 7.25 |" in part
    assert "| resnet18 | 85.75 | 89.50 | layer4 (nonlinear) | 56.00 | layer4 (conv) | 73.00 | -29.75 | -12.75 |" in part


def test_backbone_summaries_hold_the_val_selected_rows(results):
    nin, resnet = probe_tables.backbone_summaries(studied(results, "cifar10"))
    assert (nin.backbone, resnet.backbone) == ("nin", "resnet18")
    assert (nin.probe.layer, nin.probe["head"], nin.probe.val_acc) == ("block2", "nonlinear", 70.0)
    assert (nin.finetune["head"], nin.finetune.test_acc) == ("conv", 78.5)
    assert nin.supervised.test_acc == 71.25 and nin.rotation.test_acc == 89.5


def test_knn_plays_no_part_in_the_best_probe(results):
    better = results.accuracies.copy()
    better.loc[better.method == "rotnet knn", "val_acc"] = 99.0  # kNN best on validation everywhere
    part = "\n".join(probe_tables.summary_section(studied(results, "cifar10", better)))
    assert "| nin | 71.25 | 89.50 | block2 (nonlinear) | 68.00 | block2 (conv) | 78.50 | -3.25 | 7.25 |" in part


def test_figures_over_several_seeds_read_mean_plus_minus_std(results):
    df = results.accuracies.copy()
    df.loc[df.backbone == "nin", "test_std"] = 1.5
    part = "\n".join(probe_tables.summary_section(studied(results, "cifar10", df)))
    seeded = "| nin | 71.25 ± 1.50 | 89.50 ± 1.50 | block2 (nonlinear) | 68.00 ± 1.50 | block2 (conv) | 78.50 ± 1.50 |"
    assert seeded in part
    assert "| resnet18 | 85.75 | 89.50 |" in part  # one seed there: plain figures


def test_per_layer_tables_with_paper_columns_where_the_paper_has_figures(results):
    rows = studied(results, "cifar10")
    nin = "\n".join(probe_tables.layer_section("nin", rows[rows.backbone == "nin"], "the paper note"))
    header = (
        "| layer | nonlinear val | linear val | conv val | nonlinear test | linear test | conv test "
        "| knn val | knn test |"
    )
    assert header + " paper nonlinear | paper conv |" in nin
    assert "| block2 | 70.00 | 65.00 | 69.50 | 68.00 | 64.00 | 74.00 | 62.50 | 61.00 | 89.06 | 91.16 |" in nin
    assert "| block1 | 60.00 | 55.00 | – | 61.00 | 56.00 | – | 52.00 | 53.00 | 85.07 | – |" in nin
    assert "\nthe paper note\n" in nin
    assert "Supervised nin: val 70.00, test 71.25 (3 epochs, 12 s)." in nin
    resnet = "\n".join(probe_tables.layer_section("resnet18", rows[rows.backbone == "resnet18"], "the paper note"))
    assert "| layer | nonlinear val | linear val | nonlinear test | linear test | knn val | knn test |" in resnet
    assert "| layer3 | 50.00 | 40.00 | 51.00 | 41.00 | 43.00 | 44.00 |" in resnet
    assert "the paper note" not in resnet  # no paper figure, no note
    shapes = studied(results, "shapes")
    header_only, body = probe_tables.layer_table(shapes[shapes.backbone == "nin"])
    assert "paper nonlinear" not in header_only
    assert body[1][:4] == ["block2", 70.0, 65.0, 69.5]


def test_per_layer_tables_leave_out_knn_for_records_without_it(results):
    rows = studied(results, "cifar10")
    old = rows[(rows.method != "rotnet knn") & (rows.backbone == "nin")]  # probe runs from before kNN
    text = "\n".join(probe_tables.layer_section("nin", old))
    assert "knn" not in text
    assert "| block2 | 70.00 | 65.00 | 69.50 | 68.00 | 64.00 | 74.00 | 89.06 | 91.16 |" in text


def test_table1_note_names_what_still_differs(results):
    note = probe_tables.table1_note(results.datasets["cifar10"])
    assert note.startswith("Paper columns: the paper's Table 1")
    assert "What still differs from the official run: data: cifar10 (image folder images)" in note
    assert "reads the best-validation RotNet (epoch 4; official: the last epoch)" in note


def test_controls_table_per_map_with_the_val_chosen_head(results):
    cifar = "\n".join(probe_tables.controls_section(studied(results, "cifar10")))
    header = (
        "| layer | RotNet probe | supervised probe | random init probe | RotNet kNN | supervised kNN "
        "| random init kNN |"
    )
    assert header in cifar
    # block2 of NIN: nonlinear is best on val for every source (70 > 69.5 conv), kNN test 61 shifted
    assert "| block2 | 68.00 (nonlinear) | 78.00 (nonlinear) | 48.00 (nonlinear) | 61.00 | 71.00 | 41.00 |" in cifar
    assert probe_tables.controls_section(studied(results, "shapes")) == []  # no control records: no section
