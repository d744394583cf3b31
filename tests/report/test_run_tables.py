"""How runs were set up and measured, on their own: the small-input choices, the recipes, each
run's device and time (the report that assembles them: test_sections.py)."""

from __future__ import annotations

from rotnet.report import run_tables


def test_small_input_choice_names_how_32px_images_are_seen():
    assert run_tables.small_input_choice({"small_input": "upsample", "upsample_size": 64}) == "upsample x2 (32 -> 64)"
    assert run_tables.small_input_choice({"small_input": "upsample"}) == "upsample x4 (32 -> 128)"  # the default size
    assert run_tables.small_input_choice({"small_input": "stride"}) == "stem and first stride-2 stage at stride 1"


def test_small_input_table(results):
    part = "\n".join(run_tables.small_input_section(results.datasets["shapes"].small_input))
    assert "Supervised, 1 epochs on 60 training images, cpu (2 threads)." in part
    assert "| backbone | arch | small-input choice | val | test | train images/s | time (s) | params |" in part
    assert "| efficientnet_b0_upsample | efficientnet_b0 | upsample x2 (32 -> 64) | 33.00 | 34.25 |" in part
    assert (
        "| efficientnet_b0 | efficientnet_b0 | stem and first stride-2 stage at stride 1 "
        "| 30.50 | 31.50 | 321.25 | 7.50 | 4.0M |"
    ) in part
    assert run_tables.small_input_section(None) == []  # no small-input record: no section


def test_small_input_choices_over_several_seeds_read_mean_plus_minus_std(results):
    record = results.datasets["cifar10"].small_input
    seeded = {**record, "std": {"choices": {"efficientnet_b0_upsample": {"test_acc": 0.75}}}}
    table = "\n".join(run_tables.small_input_section(seeded))
    assert "| upsample x2 (32 -> 64) | 33.00 | 34.25 ± 0.75 |" in table
    assert "± " not in table.split("efficientnet_b0_upsample")[0]  # the other choice: one figure


def test_recipe_table_shows_what_each_backbone_ran_with(results):
    part = "\n".join(run_tables.recipe_section(results.datasets["cifar10"]))
    assert (
        "| backbone | stage | epochs | batch | optimizer | lr | weight decay | schedule | label smoothing "
        "| augmentation | micro-batch |"
    ) in part
    # every training stage, from its run record: each studied backbone's own, both fine-tuned
    # heads, the controls, the baseline, both semi-supervised arms and the small-input choices
    for backbone in ("nin", "resnet18"):
        for stage in ("supervised", "pretrain", "probe", "finetune/conv", "finetune/nonlinear", "control"):
            assert f"| {backbone} | {stage} |" in part
    for row in ("| nin3 | baseline |", "| nin | semisup scratch |", "| nin | semisup rotnet |"):
        assert row in part
    assert "| (each choice) | small_input |" in "\n".join(run_tables.recipe_section(results.datasets["shapes"]))
    assert "| sgd | 0.1 | 0.0005 | step | 0 | crop pad 4, flip | – |" in part


def test_measurements_one_row_per_run(results):
    measured = "\n".join(run_tables.measurement_section(results.accuracies))
    assert measured.startswith("## How these were measured")
    assert "| dataset | backbone | stage | epochs | wall time (s) | train images/s | device |" in measured
    assert "| cifar10 | nin | supervised | 3 | 12.50 | 1234.50 | cpu (2 threads) |" in measured
    assert "| shapes | resnet18 | probe | 2 | 20.00 | 500.00 | cpu (2 threads) |" in measured
    assert "| shapes | nin | finetune/nonlinear | 3 | 12.50 | 1234.50 | cpu (2 threads) |" in measured
    assert measured.count("\n| cifar10 |") == 13 and measured.count("\n| shapes |") == 10  # + controls, nin3 baseline
