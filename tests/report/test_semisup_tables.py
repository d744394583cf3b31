"""The few-labels table, on its own (the report that assembles it: test_sections.py)."""

from __future__ import annotations

import dataclasses

from rotnet.report import semisup_tables


def test_semisup_protocol_says_which_subsets_and_in_which_order(results):
    record = results.datasets["cifar10"].semisup[0]
    assert "Labelled images" not in semisup_tables.semisup_protocol(record)  # older records: no claim either way
    for description in (
        "the official subsets: the first K training images of each class in the official order "
        "(data_batch_1 to data_batch_5)",
        "the first K training images of each class in file paths sorted within each class folder",
    ):
        line = semisup_tables.semisup_protocol({**record, "subset": {"official": False, "description": description}})
        assert line.endswith(f"cpu (2 threads). Labelled images: {description}.")


def test_semisup_table_with_paper_figures_on_cifar10(results):
    cifar = "\n".join(semisup_tables.semisup_section(results.datasets["cifar10"]))
    shapes = "\n".join(semisup_tables.semisup_section(results.datasets["shapes"]))
    header = (
        "| backbone | labels/class | train / val images | from scratch | RotNet + conv head (frozen) "
        "| RotNet − scratch | fig. 5b re-run scratch | fig. 5b re-run RotNet |"
    )
    assert header in cifar and header in shapes
    assert "scratch arm: a nin3 from scratch, 3 epochs of 500 images" in cifar
    assert "RotNet arm: the conv head on the frozen block2, 2 epochs of 400 images" in cifar
    assert "validation set of K images per class" in cifar
    assert "| nin | 20 | 60 / 60 | 30.00 | 50.00 | 20.00 | 33.66 | 64.63 |" in cifar
    assert "| nin | 100 | 300 / 120 | 31.00 | 52.00 | 21.00 | 47.26 | 75.28 |" in cifar
    assert "| nin | 20 | 60 / 60 | 30.00 | 50.00 | 20.00 | – | – |" in shapes
    assert "RotNet fine-tuned (not the paper's)" not in cifar  # the optional arm did not run
    # The reference figures are a later re-run's, and the table says so; never "paper".
    source = "The 'fig. 5b re-run' columns: a later re-run of the paper's figure 5b (the paper prints no table of it)"
    assert source in cifar and source not in shapes
    for part in (cifar, shapes):
        assert "paper scratch" not in part and "paper RotNet" not in part
    assert "![semi-supervised](report_files/shapes_semisup.png)" in shapes
    assert "What still differs from the official runs: data:" in cifar and "What still differs" not in shapes


def test_few_labels_points_over_several_seeds_read_mean_plus_minus_std(results):
    ds = results.datasets["cifar10"]
    record = ds.semisup[0]
    stds = [{"rotnet": {"test_acc": 1.25}, "scratch": {"test_acc": 0.5}} for _ in record["points"]]
    seeded = dataclasses.replace(ds, semisup=[{**record, "std": {"points": stds}}])
    lines = semisup_tables.semisup_section(seeded)
    first = record["points"][0]
    rotnet, scratch = first["rotnet"]["test_acc"], first["scratch"]["test_acc"]
    assert any(f"| {scratch:.2f} ± 0.50 | {rotnet:.2f} ± 1.25 |" in line for line in lines), lines
