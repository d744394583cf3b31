"""Rotations as extra supervision, on their own: supervised vs supervised+rot, clean and under
corruptions (the report that assembles the sections: test_sections.py)."""

from __future__ import annotations

import dataclasses

from rotnet.report.supervision_tables import recipe_differences, rotation_supervision_section
from tests.report.study import RECIPE


def test_recipe_differences_name_every_key_that_differs():
    a = {"recipe": {**RECIPE, "epochs": 3}}
    assert recipe_differences(a, {"recipe": {**RECIPE, "epochs": 3}}) == []
    assert recipe_differences(a, {"recipe": {**RECIPE, "epochs": 1, "lr": 0.01}}) == ["lr 0.1 vs 0.01", "epochs 3 vs 1"]
    assert recipe_differences({"recipe": {"lr": 0.1}}, {}) == ["lr 0.1 vs None"]  # a record without a recipe


def test_rotations_as_extra_supervision_beside_supervised_clean_and_corrupted(results):
    """The gain in points against the same backbone's supervised figure; for joint the upright
    copy too; corrupted figures labelled as regenerated, with what they average over."""
    ds = results.datasets["cifar10"]
    assert rotation_supervision_section(ds) == []  # a study without the stages: no section
    base = {"data": "d", "epochs": 3, "wall_time_s": 1.0, "images_per_s": 10.0, "device": "cpu"}
    joint = {
        **base,
        "mode": "joint",
        "weight": None,
        "val_acc": 74.0,
        "test_acc": 73.5,
        "recipe": {**RECIPE, "epochs": 3},
    }
    joint |= {"upright_val_acc": 70.0, "upright_test_acc": 69.0}
    cases = ["gaussian_noise", "contrast"]
    robust = {
        "supervised": {"clean_acc": 71.25, "corruption_acc": 40.0},
        "supervised_rot": {"clean_acc": 73.5, "corruption_acc": 45.5},
        "supervised_rot_upright": {"clean_acc": 69.0, "corruption_acc": 41.0},
        "probe": {"clean_acc": 68.0, "corruption_acc": 30.25},
        "corruptions": cases,
        "severities": [1, 2, 3, 4, 5],
        "source": "regenerated (rotnet.data.corruptions)",
    }
    ds = dataclasses.replace(ds, supervised_rot={"nin": joint}, robustness={"nin": robust})
    text = "\n".join(rotation_supervision_section(ds))
    # nin supervised tests at 71.25 in the fake study: +2.25 points clean, +5.50 corrupted
    assert "| nin | joint | 3 | 3 | 71.25 | 73.50 | 2.25 | 69.00 |" in text  # epochs: 3 in the fake study
    assert "| nin | 71.25 | 40.00 | 73.50 | 45.50 | 5.50 | 41.00 | 68.00 | 30.25 |" in text
    assert "2 corruptions x 5 severities" in text and "not the published files" in text
    # Runs of other recipes are shown side by side, never as a gain: every difference is named.
    other = {**RECIPE, "epochs": 1, "optimizer": "rangerlars"}
    shorter = dataclasses.replace(ds, supervised_rot={"nin": {**joint, "epochs": 1, "recipe": other}})
    text = "\n".join(rotation_supervision_section(shorter))
    differ = "recipes differ: optimizer sgd vs rangerlars, epochs 3 vs 1"
    assert f"| nin | joint | 3 | 1 | 71.25 | 73.50 | {differ} | 69.00 |" in text
    assert f"| 40.00 | 73.50 | 45.50 | {differ} | 41.00 |" in text
    lr_only = dataclasses.replace(ds, supervised_rot={"nin": {**joint, "recipe": {**RECIPE, "epochs": 3, "lr": 0.01}}})
    assert "recipes differ: lr 0.1 vs 0.01 |" in "\n".join(rotation_supervision_section(lr_only))
