"""The report's rotations as extra supervision: supervised vs supervised+rot per backbone,
clean and under corruptions, a gain only between runs of the same recipe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rotnet.report.results import DatasetResults, Record
from rotnet.report.tables import (
    table,
)

# --- rotations as extra supervision, and robustness to corruptions --------------------


def recipe_differences(a: Record, b: Record) -> list[str]:
    """Every recipe key on which two run records differ, as 'key a vs b'."""
    ra, rb = a.get("recipe") or {}, b.get("recipe") or {}
    return [f"{k} {ra.get(k)} vs {rb.get(k)}" for k in dict.fromkeys([*ra, *rb]) if ra.get(k) != rb.get(k)]


def _gain(a: Any, b: Any, differ: Sequence[str] = ()) -> Any:
    """b - a in points, only between runs of the same recipe: otherwise which recipe keys
    differ (the quick profile, or a `-S supervised.<key>` that supervised_rot does not share)."""
    if differ:
        return "recipes differ: " + ", ".join(differ)
    return None if a is None or b is None else round(b - a, 2)


def _rot_vs_supervised(ds: DatasetResults, backbone: str) -> list[str]:
    rot = ds.supervised_rot.get(backbone)
    return ["no supervised_rot run"] if rot is None else recipe_differences(ds.records[backbone]["supervised"], rot)


def rotation_supervision_section(ds: DatasetResults) -> list[str]:
    """supervised vs supervised+rot per backbone, clean and (robustness stage) under
    corruptions, with the gain in points; for joint also the upright copy alone."""
    if not ds.supervised_rot and not ds.robustness:
        return []
    out = ["### Rotations as extra supervision, clean and corrupted", ""]
    if ds.supervised_rot:
        rows = []
        for b, rec in ds.supervised_rot.items():
            sup = ds.records[b]["supervised"]
            upright = rec.get("upright_test_acc") if rec["mode"] == "joint" else None
            mode = rec["mode"] + (f", weight {rec['weight']:g}" if rec.get("weight") is not None else "")
            rows.append(
                [
                    b,
                    mode,
                    sup["epochs"],
                    rec["epochs"],
                    sup["test_acc"],
                    rec["test_acc"],
                    _gain(sup["test_acc"], rec["test_acc"], _rot_vs_supervised(ds, b)),
                    upright,
                ]
            )
        header = ["backbone", "supervised+rot", "epochs (sup)", "epochs (+rot)", "supervised test", "+rot test"]
        out += [table([*header, "gain (points)", "+rot upright copy only"], rows), ""]
        out += [
            "multitask: a rotation head beside the class head, class loss on the upright copies + weight x "
            "rotation loss on all four (Hendrycks et al. 2019); joint: one head over (class, rotation), "
            "tested by averaging the four copies' log-probabilities (Lee et al. 2020). Epochs chosen on "
            "validation class accuracy; test touched once. A gain is shown only between runs of the same "
            "recipe (Recipes below); otherwise the cell names every recipe key that differs.",
            "",
        ]
    if ds.robustness:
        rows = []
        first = next(iter(ds.robustness.values()))
        for b, rec in ds.robustness.items():
            fig = {k: rec.get(k) or {} for k in ("supervised", "supervised_rot", "supervised_rot_upright", "probe")}
            sup, rot = fig["supervised"].get("corruption_acc"), fig["supervised_rot"].get("corruption_acc")
            rows.append(
                [
                    b,
                    fig["supervised"].get("clean_acc"),
                    sup,
                    fig["supervised_rot"].get("clean_acc"),
                    rot,
                    _gain(sup, rot, _rot_vs_supervised(ds, b)),
                    fig["supervised_rot_upright"].get("corruption_acc"),  # joint only
                    fig["probe"].get("clean_acc"),
                    fig["probe"].get("corruption_acc"),
                ]
            )
        header = ["backbone", "supervised clean", "supervised corrupted", "+rot clean", "+rot corrupted"]
        header += ["gain corrupted (points)", "+rot upright copy only corrupted"]
        out += [table([*header, "RotNet probe clean", "RotNet probe corrupted"], rows)]
        n, k = len(first["corruptions"]), len(first["severities"])
        out += [
            "",
            f"Corrupted: mean test accuracy over {n} corruptions x {k} severities ({', '.join(first['corruptions'])}); "
            f"{first['source']}. Regenerated sets follow CIFAR-10-C's published generator (its constants, "
            "and for the blurs, brightness, contrast, pixelate and JPEG its functions' pixels, truncation "
            "included: tests/data/fixtures) but are not the published files (the noises draw other random "
            "streams): compare them with each other, not with published CIFAR-10-C figures.",
            "",
        ]
    return out
