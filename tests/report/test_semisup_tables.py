"""The few-labels protocol line, on its own (the section: test_sections.py)."""

from __future__ import annotations

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
