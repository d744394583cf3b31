"""Every way a run departs from the official one is named; a paper-exact run names only what must differ."""

from __future__ import annotations

from rotnet.report import protocol

PAPER_EXACT = {
    "epochs": 200,
    "precision": "fp32",
    "tf32": {"matmul": False, "cudnn": False},
    "train_images": 50_000,
    "recipe": {"batch_size": 128},
    "backbone_options": {"blocks": 4, "width": 192, "init": "official"},
}


def _diff(rec, kind="pretrain", official=True, pretrain=None, extra=()):
    return protocol.differences(
        rec, kind, data_description="CIFAR-10 (official)", data_official=official, pretrain=pretrain, extra=extra
    )


def test_a_paper_exact_run_differs_only_in_how_epochs_are_chosen():
    assert _diff(PAPER_EXACT) == protocol.SELECTION
    probe = {**PAPER_EXACT, "epochs": 100}
    assert _diff(probe, "probe", pretrain={**PAPER_EXACT, "checkpoint": "last"}) == protocol.SELECTION


def test_each_departure_is_named():
    cases = {
        "precision": (
            {"precision": "bf16 autocast", "tf32": {"matmul": False, "cudnn": True}},
            "bf16 autocast, TF32 on for cudnn",
        ),
        "train_images": (
            {"train_images": 45_000},
            "45,000 training images, 351 steps of 128 per epoch (official: 50,000, 391 steps)",
        ),
        "epochs": ({"epochs": 46}, "46 epochs (official: 200)"),
        "init": ({"backbone_options": {"init": "kaiming"}}, "init kaiming (official: PyTorch 0.2's defaults"),
    }
    for field, (change, named) in cases.items():
        text = _diff({**PAPER_EXACT, **change})
        assert named in text, field
        assert text.endswith(protocol.SELECTION)
    assert "data: my copy (official: the CIFAR-10 download)" in protocol.differences(
        PAPER_EXACT, "supervised", data_description="my copy", data_official=False
    )
    assert "fp32 with TF32 on for matmul (official: fp32)" in _diff({**PAPER_EXACT, "tf32": {"matmul": True}})


def test_probes_name_the_rotnet_they_read_and_its_init():
    best = {**PAPER_EXACT, "checkpoint": "best", "best_epoch": 153, "backbone_options": {"init": "kaiming"}}
    text = _diff({**PAPER_EXACT, "epochs": 100}, "probe", pretrain=best)
    assert "reads the best-validation RotNet (epoch 153; official: the last epoch)" in text
    assert "init kaiming" in text  # the RotNet's, not the probe record's


def test_records_from_before_say_what_they_do_not_know():
    old = {"epochs": 200}
    text = _diff(old)
    assert "precision not recorded" in text and "initialisation not recorded" in text
    assert _diff(None) == "–"


def test_extra_notes_come_first():
    assert _diff(PAPER_EXACT, extra=("protocol assumed",)).startswith("protocol assumed; ")


def test_what_every_row_shares_is_found_once():
    assert protocol.common([["a", "b", "c"], ["c", "a"], ["a", "x", "c"]]) == ["a", "c"]
    assert protocol.common([]) == []
