"""The tables beside the paper, on their own (the report that assembles them: test_sections.py)."""

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


def test_nin_beside_the_paper(results):
    ds, df = results.datasets["cifar10"], results.accuracies
    cifar = "\n".join(paper_tables.nin_vs_paper_section(ds, df[df.dataset == "cifar10"]))
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


def test_nin_beside_the_paper_over_several_seeds_reads_mean_plus_minus_std(results):
    ds, df = results.datasets["cifar10"], results.accuracies.copy()
    df.loc[df.backbone == "nin", "test_std"] = 1.5
    cifar = "\n".join(paper_tables.nin_vs_paper_section(ds, df[df.dataset == "cifar10"]))
    assert "| supervised NIN | 92.80 | 3-block NIN, 200 epochs | 69.50 |" in cifar  # the nin3 baseline: one seed
    assert "| RotNet + conv head (block 2) | 91.16 | frozen 4-block RotNet, head 100 epochs | 74.00 ± 1.50 |" in cifar
