"""The published figures (rotnet.report.paper): as ../shared/REFERENCE.md tabulates them, keyed
the way the study names its blocks, rotation sets and heads."""

from __future__ import annotations

import re

import pytest

from rotnet.models.registry import create_backbone
from rotnet.params import parse_params
from rotnet.report import paper
from rotnet.rotation import ANGLES
from tests.conftest import REPO_ROOT

REFERENCE = REPO_ROOT.parent / "shared" / "REFERENCE.md"


@pytest.fixture(scope="module")
def reference() -> str:
    if not REFERENCE.is_file():
        pytest.skip("../shared/REFERENCE.md not present (CI provides it): the figures are checked against it")
    return REFERENCE.read_text()


def _rows(text: str, title: str) -> dict[str, list[str]]:
    """The markdown table after the line starting with ``title``: first cell -> the other cells."""
    lines = text.split(title, 1)[1].splitlines()[1:]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_table_1_is_the_references(reference):
    rows = _rows(reference, "Table 1")
    for blocks, figures in paper.NIN_PROBES.items():
        given = [float(c) for c in rows[f"RotNet, {blocks} blocks"] if c]
        assert list(figures.values()) == given, blocks
        assert figures == {layer: paper.nin_probe_figure(blocks, layer) for layer in figures}


def test_the_comparison_table_is_the_references(reference):
    rows = _rows(reference, "CIFAR-10 comparison table")
    ours = {name.replace("supervised NIN (fully supervised)", "supervised NIN"): c[0] for name, c in rows.items()}
    for name, figure in paper.COMPARISON.items():
        assert float(ours[name]) == figure, name
    assert paper.COMPARISON["supervised NIN"] == paper.NIN_SUPERVISED


def test_the_rotation_sets_are_the_references(reference):
    text = " ".join(reference.split("Number of rotations", 1)[1].split("\n\n", 1)[0].split())
    assert paper.rotation_set_figure(ANGLES) == float(re.search(r"4 rotations (\d+\.\d+)", text)[1])
    assert paper.rotation_set_figure(range(0, 360, 45)) == float(re.search(r"8 rotations .*?\) (\d+\.\d+)", text)[1])
    assert paper.rotation_set_figure([0, 180]) == float(re.search(r"\(0, 180\) (\d+\.\d+)", text)[1])
    assert paper.rotation_set_figure((90, 270)) == float(re.search(r"\(90, 270\) (\d+\.\d+)", text)[1])


def test_the_semi_supervised_figures_are_the_re_runs(reference):
    rows = _rows(reference, "Figures as tabulated by a later re-run")
    assert [int(c) for c in _header(reference)] == paper.SEMISUP_LABELS
    assert [float(c) for c in rows["RotNet + conv"]] == paper.SEMISUP_ROTNET
    assert [float(c) for c in rows["supervised"]] == paper.SEMISUP_SCRATCH


def _header(text: str) -> list[str]:
    block = text.split("Figures as tabulated by a later re-run", 1)[1]
    line = next(x for x in block.splitlines() if x.startswith("| labels per class"))
    return [c.strip() for c in line.strip("|").split("|")[1:]]


def test_lookups_take_any_sequence_and_say_none_for_what_the_paper_did_not_run():
    assert paper.rotation_set_figure([0, 90, 180, 270]) == paper.rotation_set_figure((0, 90, 180, 270)) is not None
    assert paper.rotation_set_figure([0, 90]) is None
    assert paper.nin_probe_figure(4, "block5") is None and paper.nin_probe_figure(6, "block1") is None


def test_the_figures_are_keyed_as_the_study_names_things():
    # Blocks: the feature maps of a NIN of that depth.
    for blocks, figures in paper.NIN_PROBES.items():
        nin = create_backbone("nin", 10, options={"blocks": blocks, "width": 8})
        assert list(figures) == nin.feature_names
    # Rotation sets: each one pretrain.rotations accepts; the default is the training code's.
    assert paper.DEFAULT_ROTATIONS == ANGLES == tuple(parse_params({}).pretrain.rotations)
    for angles in paper.ROTATION_SETS:
        assert tuple(parse_params({"pretrain": {"rotations": list(angles)}}).pretrain.rotations) == angles
    # Heads: each fine-tuned row belongs to a head finetune.heads takes, and names a comparison row.
    assert set(paper.FINETUNED.values()) <= set(paper.COMPARISON)
    assert parse_params({"finetune": {"heads": list(paper.FINETUNED)}}).finetune.heads == list(paper.FINETUNED)
    assert len(paper.SEMISUP_ROTNET) == len(paper.SEMISUP_SCRATCH) == len(paper.SEMISUP_LABELS)
