"""Sections: the markdown of each part of the report, from the collected results alone."""

from __future__ import annotations

import dataclasses
import os

from rotnet.report import paper_tables, sections
from rotnet.report.results import StudyResults


def _section(report: str, dataset: str) -> str:
    """One dataset's part of the report."""
    part = report.split(f"\n## {dataset}: ", 1)[1]
    return part.split("\n## ", 1)[0]


def test_report_layout(results):
    report = sections.render_markdown(results)
    headings = [line for line in report.splitlines() if line.startswith("#")]
    assert headings[0] == "# RotNet study report"
    assert "## cifar10: cifar10 (image folder images)" in headings
    assert "## shapes: shapes (image folder images)" in headings
    assert headings[-2:] == ["## Probe accuracy per layer", "## How these were measured"]
    assert "![probe accuracy per layer](report.png)" in report
    cifar = [h for h in headings if h.startswith("###")][:11]
    assert cifar == [
        "### Supervised vs RotNet",
        "### nin: probe accuracy per layer",
        "### resnet18: probe accuracy per layer",
        "### Controls: the same probes on other frozen backbones",
        "### NIN beside the paper",
        "### Small images: the choices compared",
        "### Few labels: RotNet vs training from scratch (the paper's fig. 5b experiment)",
        "### Recipes: what each backbone ran with",
        "### Training curves (validation accuracy)",
        "### Best classifier: nin finetune/conv, chosen on validation",
        "### Supervised vs RotNet",  # the next dataset
    ]
    assert "## Probe accuracy per layer" not in sections.render_markdown(results, figure=None)


def test_summary_table_picks_the_probe_on_validation(results):
    part = _section(sections.render_markdown(results), "cifar10")
    assert (
        "| backbone | supervised test | rotation test | best probe (val-selected) | probe test "
        "| best finetuned (val-selected) | finetuned test | probe − supervised | finetuned − supervised |"
    ) in part
    # block2 nonlinear has the best validation accuracy (70); conv on block2 (test 74) and
    # block3 nonlinear (test 72) would win on test. Fine-tuned: the conv head (val 80, test
    # 78.5) over the non-linear one (val 77, test 79.5).
    assert "| nin | 71.25 | 89.50 | block2 (nonlinear) | 68.00 | block2 (conv) | 78.50 | -3.25 | 7.25 |" in part
    assert "| resnet18 | 85.75 | 89.50 | layer4 (nonlinear) | 56.00 | layer4 (conv) | 73.00 | -29.75 | -12.75 |" in part


def test_per_layer_tables_with_paper_columns_on_cifar10_only(results):
    report = sections.render_markdown(results)
    cifar, shapes = _section(report, "cifar10"), _section(report, "shapes")
    header = (
        "| layer | nonlinear val | linear val | conv val | nonlinear test | linear test | conv test "
        "| knn val | knn test |"
    )
    assert header + " paper nonlinear | paper conv |" in cifar
    assert "| block2 | 70.00 | 65.00 | 69.50 | 68.00 | 64.00 | 74.00 | 62.50 | 61.00 | 89.06 | 91.16 |" in cifar
    assert "| block1 | 60.00 | 55.00 | – | 61.00 | 56.00 | – | 52.00 | 53.00 | 85.07 | – |" in cifar
    assert header + "\n" in shapes
    assert "| block2 | 70.00 | 65.00 | 69.50 | 68.00 | 64.00 | 74.00 | 62.50 | 61.00 |\n" in shapes
    assert "| layer | nonlinear val | linear val | nonlinear test | linear test | knn val | knn test |" in cifar
    assert "| layer3 | 50.00 | 40.00 | 51.00 | 41.00 | 43.00 | 44.00 |" in cifar  # resnet18
    assert "Supervised nin: val 70.00, test 71.25 (3 epochs, 12 s)." in cifar


def test_per_layer_tables_leave_out_knn_for_records_without_it(results):
    df = results.accuracies
    old = StudyResults(df[df.method != "rotnet knn"], results.datasets)  # probe runs from before kNN
    cifar = _section(sections.render_markdown(old), "cifar10")
    assert "knn" not in cifar
    assert "| block2 | 70.00 | 65.00 | 69.50 | 68.00 | 64.00 | 74.00 | 89.06 | 91.16 |" in cifar


def test_knn_plays_no_part_in_the_best_probe(results):
    df = results.accuracies
    better = df.copy()
    better.loc[better.method == "rotnet knn", "val_acc"] = 99.0  # kNN best on validation everywhere
    part = _section(sections.render_markdown(StudyResults(better, results.datasets)), "cifar10")
    assert "| nin | 71.25 | 89.50 | block2 (nonlinear) | 68.00 | block2 (conv) | 78.50 | -3.25 | 7.25 |" in part


def test_nin_beside_the_paper_on_cifar10_only(results):
    report = sections.render_markdown(results)
    cifar, shapes = _section(report, "cifar10"), _section(report, "shapes")
    header = "| method | paper (CIFAR-10 (official), paper) | paper's protocol | ours (cifar10 (image folder images)) "
    assert header + "| our protocol | what else differs from the official run |" in cifar
    # Every row names the protocol behind both of its numbers, and what still differs: what all
    # rows share once under the table, the rest in the row.
    data = "data: cifar10 (image folder images) (official: the CIFAR-10 download)"
    images = "120 training images, 15 steps of 8 per epoch (official: 50,000, 391 steps)"
    init = "init kaiming (official: PyTorch 0.2's defaults, BatchNorm scales U(0, 1); backbones.nin.init)"
    selection = "epochs chosen on validation, test read once (official: best test accuracy over epochs)"
    assert (
        "| supervised NIN | 92.80 | 3-block NIN, 200 epochs | 69.50 | 3-block NIN (nin3), 3 epochs "
        "| 3 epochs (official: 200) |"
    ) in cifar
    assert (
        f"What every row above still differs in from the official run: {data}; {images}; {init}; {selection}." in cifar
    )
    assert "| RotNet + non-linear head (best block) | 89.06 | frozen 4-block RotNet, head 100 epochs | 68.00 |" in cifar
    assert "| RotNet + conv head (block 2) | 91.16 | frozen 4-block RotNet, head 100 epochs | 74.00 |" in cifar
    # Both fine-tuned heads beside their own paper figures, each saying the recipe is ours.
    paper_protocol = "all trained (no official config)"
    assert (
        f"| RotNet fine-tuned (conv head) | 92.17 | RotNet blocks 1-2 + fresh conv head, {paper_protocol} | 78.50 "
        "| RotNet up to block2 + fresh conv head, all trained, 3 epochs, our recipe |"
    ) in cifar
    rotnet = "reads the best-validation RotNet (epoch 4; official: the last epoch)"
    assert f"head 2 epochs | 2 epochs (official: 100); {rotnet} |" in cifar  # the probe rows
    assert f"3 epochs, our recipe | {rotnet} |" in cifar  # the fine-tuned rows
    assert (
        f"| RotNet fine-tuned (non-linear head) | 91.73 | RotNet blocks 1-2 + fresh non-linear head, {paper_protocol} "
        "| 79.50 | RotNet up to block2 + fresh non-linear head, all trained, 3 epochs, our recipe |"
    ) in cifar
    assert "recipe (params.yaml's `finetune` section, in the Recipes table) is this project's own" in cifar
    # The random-init control beside the paper's: its protocol is marked as assumed.
    assert (
        "| random init + conv head (block 2) | 72.50 | not published: no official config (assumed: frozen random "
        "4-block NIN, head 100 epochs) | 54.00 | frozen random NIN (seeded), head 2 epochs "
        f"| {paper_tables.RANDOM_ASSUMED}; 2 epochs (official: 100) |"  # it reads no RotNet
    ) in cifar
    for paper in ("NIN beside the paper", "89.06", "91.16", "92.80", "33.66", "64.63"):
        assert paper not in shapes


def test_small_input_table(results):
    part = _section(sections.render_markdown(results), "shapes")
    assert "Supervised, 1 epochs on 60 training images, cpu (2 threads)." in part
    assert "| backbone | arch | small-input choice | val | test | train images/s | time (s) | params |" in part
    assert "| efficientnet_b0_upsample | efficientnet_b0 | upsample x2 (32 -> 64) | 33.00 | 34.25 |" in part
    assert (
        "| efficientnet_b0 | efficientnet_b0 | stem and first stride-2 stage at stride 1 "
        "| 30.50 | 31.50 | 321.25 | 7.50 | 4.0M |"
    ) in part


def test_semisup_table_with_paper_figures_on_cifar10(results):
    report = sections.render_markdown(results)
    cifar, shapes = _section(report, "cifar10"), _section(report, "shapes")
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
    # The reference figures are a later re-run's, and the report says so; never "paper".
    source = "The 'fig. 5b re-run' columns: a later re-run of the paper's figure 5b (the paper prints no table of it)"
    assert source in cifar and source not in shapes
    assert "paper scratch" not in report and "paper RotNet" not in report
    assert "![semi-supervised](report_files/shapes_semisup.png)" in shapes


def test_dataset_heading_is_the_prepared_label_with_its_cuts(results, tmp_path, monkeypatch):
    from rotnet.data import fashion
    from rotnet.params import DatasetParams
    from rotnet.stages.prepare import prepare
    from tests.data.test_fashion import make_idx_folder, md5

    # Fashion-MNIST-format files of other images, cut: the label says so, and the heading shows it.
    make_idx_folder(tmp_path / "idx")
    cfg = DatasetParams(source="idx", path=str(tmp_path / "idx"), val_size=10, train_per_class=3)
    label = prepare("fashion_mnist", cfg, tmp_path / "other", 0)["description"]
    ds = dataclasses.replace(results.datasets["shapes"], data=label)
    heading = sections.dataset_section(ds, results.accuracies[results.accuracies.dataset == "shapes"])[0]
    assert heading == (
        f"## shapes: Fashion-MNIST format, from {tmp_path / 'idx'}; train cut to the first 3 images per class; "
        "validation 10 images (default 5,000)"
    )
    assert "official" not in heading
    # The same files, when the official md5 table names them, are the official data.
    monkeypatch.setattr(fashion, "FASHION_MD5", {f: md5(tmp_path / "idx" / f) for f in fashion.FASHION_MD5})
    label = prepare("fashion_mnist", cfg, tmp_path / "off", 0)
    assert label["description"].startswith("Fashion-MNIST (official); train cut to the first 3 images per class")


def test_optional_sections_left_out_without_records(results):
    ds = dataclasses.replace(results.datasets["shapes"], semisup=[], small_input=None)
    report = sections.render_markdown(StudyResults(results.accuracies, {**results.datasets, "shapes": ds}))
    shapes = _section(report, "shapes")
    assert "Few labels" not in shapes and "Small images" not in shapes and "semisup.png" not in shapes
    assert "Few labels" in _section(report, "cifar10")


def test_figures_and_measurements(results):
    report = sections.render_markdown(results)
    cifar = _section(report, "cifar10")
    epochs = "supervised 3, pretrain 4, finetune/conv 3, finetune/nonlinear 3, probe 2, control 2, baseline 3"
    assert f"Measured on cpu (2 threads); epochs: {epochs}." in cifar
    for what, alt in (("curves", "training curves"), ("confusion", "confusion matrix")):
        assert f"![{alt}](report_files/cifar10_{what}.png)" in cifar
    assert "![test images, predicted (true)](report_files/cifar10_samples.png)" in cifar
    measured = report.split("## How these were measured", 1)[1]
    assert "| dataset | backbone | stage | epochs | wall time (s) | train images/s | device |" in measured
    assert "| cifar10 | nin | supervised | 3 | 12.50 | 1234.50 | cpu (2 threads) |" in measured
    assert "| shapes | resnet18 | probe | 2 | 20.00 | 500.00 | cpu (2 threads) |" in measured
    assert "| shapes | nin | finetune/nonlinear | 3 | 12.50 | 1234.50 | cpu (2 threads) |" in measured
    assert measured.count("\n| cifar10 |") == 13 and measured.count("\n| shapes |") == 10  # + controls, nin3 baseline


def test_rendering_touches_no_files(results, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sections.render_markdown(results) == sections.render_markdown(results)
    assert not os.listdir(tmp_path)


def test_controls_table_per_map_with_the_val_chosen_head(results):
    report = sections.render_markdown(results)
    cifar, shapes = _section(report, "cifar10"), _section(report, "shapes")
    header = (
        "| layer | RotNet probe | supervised probe | random init probe | RotNet kNN | supervised kNN "
        "| random init kNN |"
    )
    assert header in cifar
    # block2 of NIN: nonlinear is best on val for every source (70 > 69.5 conv), kNN test 61 shifted
    assert "| block2 | 68.00 (nonlinear) | 78.00 (nonlinear) | 48.00 (nonlinear) | 61.00 | 71.00 | 41.00 |" in cifar
    assert "Controls" not in shapes  # no control records there: no section


def test_figures_over_several_seeds_read_mean_plus_minus_std(results):
    df = results.accuracies.copy()
    df.loc[df.backbone == "nin", "test_std"] = 1.5
    part = _section(sections.render_markdown(StudyResults(df, results.datasets)), "cifar10")
    seeded = "| nin | 71.25 ± 1.50 | 89.50 ± 1.50 | block2 (nonlinear) | 68.00 ± 1.50 | block2 (conv) | 78.50 ± 1.50 |"
    assert seeded in part
    assert "| resnet18 | 85.75 | 89.50 |" in part  # one seed there: plain figures
    assert "| supervised NIN | 92.80 | 3-block NIN, 200 epochs | 69.50 |" in part


def test_few_labels_points_over_several_seeds_read_mean_plus_minus_std(results):
    ds = results.datasets["cifar10"]
    record = ds.semisup[0]
    stds = [{"rotnet": {"test_acc": 1.25}, "scratch": {"test_acc": 0.5}} for _ in record["points"]]
    seeded = dataclasses.replace(ds, semisup=[{**record, "std": {"points": stds}}])
    lines = sections.semisup_section(seeded)
    first = record["points"][0]
    rotnet, scratch = first["rotnet"]["test_acc"], first["scratch"]["test_acc"]
    assert any(f"| {scratch:.2f} ± 0.50 | {rotnet:.2f} ± 1.25 |" in line for line in lines), lines


def test_small_input_choices_over_several_seeds_read_mean_plus_minus_std(results):
    record = results.datasets["cifar10"].small_input
    seeded = {**record, "std": {"choices": {"efficientnet_b0_upsample": {"test_acc": 0.75}}}}
    table = "\n".join(sections.small_input_section(seeded))
    assert "| upsample x2 (32 -> 64) | 33.00 | 34.25 ± 0.75 |" in table
    assert "± " not in table.split("efficientnet_b0_upsample")[0]  # the other choice: one figure


def test_recipe_table_shows_what_each_backbone_ran_with(results):
    part = _section(sections.render_markdown(results), "cifar10")
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
    assert "| (each choice) | small_input |" in _section(sections.render_markdown(results), "shapes")
    assert "| sgd | 0.1 | 0.0005 | step | 0 | crop pad 4, flip | – |" in part


def test_rotations_as_extra_supervision_beside_supervised_clean_and_corrupted(results):
    """The gain in points against the same backbone's supervised figure; for joint the upright
    copy too; corrupted figures labelled as regenerated, with what they average over."""
    import dataclasses

    from rotnet.report.results import supervised_rot_rows
    from rotnet.report.sections import rotation_supervision_section
    from tests.report.study import RECIPE

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
    rows = supervised_rot_rows("cifar10", "nin", joint)
    assert [r["method"] for r in rows] == ["supervised+rot (joint)", "supervised+rot (joint, upright copy only)"]
    assert [r["test_acc"] for r in rows] == [73.5, 69.0]


def test_every_table_beside_paper_figures_says_what_still_differs(results):
    report = sections.render_markdown(results)
    cifar, shapes = _section(report, "cifar10"), _section(report, "shapes")
    differs = "What still differs from the official run: data: cifar10 (image folder images)"
    table1 = cifar[cifar.index("### nin: probe accuracy per layer") : cifar.index("### resnet18: probe accuracy")]
    assert "Paper columns: the paper's Table 1" in table1 and differs in table1
    assert "reads the best-validation RotNet (epoch 4; official: the last epoch)" in table1
    resnet = cifar[cifar.index("### resnet18: probe accuracy") :].split("###")[1]
    assert "Paper columns" not in resnet  # no paper figure, no note
    assert "What still differs from the official runs: data:" in cifar  # the few-labels table
    assert "What still differs" not in shapes
