import pytest
import torch


def test_the_paper_setting_trains_blocks_1_2_and_each_fresh_head_and_predicts(project):
    import json

    import numpy as np

    from rotnet import paths
    from rotnet.inference.model import load_model
    from rotnet.models.saved import load_model_file
    from rotnet.stages import finetune, pretrain

    assert project.finetune.heads == ["conv", "nonlinear"]  # the default: the paper's two rows
    pretrain.run(project, "cifar10", "nin")
    rotnet = load_model_file(paths.model_file("pretrain", "cifar10", "nin"))["state_dict"]
    metrics = finetune.run(project, "cifar10", "nin")  # no --head: each head in turn
    assert set(metrics) == {"conv", "nonlinear"}
    heads = {}
    for head in ("conv", "nonlinear"):
        kind = paths.variant_kind("finetune", head)  # finetune/<head>: its own model, record and metrics
        record = json.loads(paths.record_file(kind, "cifar10", "nin").read_text())
        assert record["network"] == f"nin up to block2 + fresh {head} head" and record["setting"] == "paper"
        assert record["head"] == head and record["layer"] == "block2"
        assert json.loads(paths.metrics_file(kind, "cifar10", "nin").read_text()) == metrics[head]
        assert paths.history_file(kind, "cifar10", "nin").is_file()
        assert json.loads((paths.seeds_dir(kind, "cifar10", "nin") / "index.json").read_text())["seeds"] == {
            "0": str(paths.model_dir(kind, "cifar10", "nin"))
        }
        saved = load_model_file(paths.model_file(kind, "cifar10", "nin"))
        assert saved["kind"] == "finetune" and saved["cut"]["head"] == head  # what predict and the report read
        # Blocks 1-2 and the head only: nothing of blocks 3-4 or the rotation classifier is kept.
        blocks = {k.split(".")[1] for k in saved["state_dict"] if k.startswith("stages.")}
        assert blocks == {"block1", "block2"}
        heads[head] = {k: v.shape for k, v in saved["state_dict"].items() if k.startswith("head.")}
        assert record["trainable_parameters"] == sum(
            v.numel() for k, v in saved["state_dict"].items() if "running" not in k and "num_batches" not in k
        )
        # Blocks 1-2 were trained from the RotNet's weights: same shapes, moved by training.
        w = "stages.block1.0.weight"
        assert saved["state_dict"][w].shape == rotnet[w].shape and not torch.equal(saved["state_dict"][w], rotnet[w])
        model = load_model(paths.model_file(kind, "cifar10", "nin"), ("finetune",), torch.device("cpu"), "")
        probs = model.probabilities(np.zeros((3, *model.input_size, model.in_chans), dtype=np.uint8))
        assert probs.shape == (3, 4) and torch.allclose(probs.sum(1), torch.ones(3))
    assert heads["conv"] != heads["nonlinear"]  # two different heads, not one model twice
    assert not paths.model_file("finetune", "cifar10", "nin").exists()  # nothing left at the old place


def test_a_head_outside_finetune_heads_is_refused(project):
    from rotnet.errors import RotnetError
    from rotnet.stages import finetune

    with pytest.raises(RotnetError, match=r"--head linear is not one of finetune.heads \['conv', 'nonlinear'\]"):
        finetune.run(project, "cifar10", "nin", head="linear")


def test_the_whole_network_setting_keeps_every_block(project):
    import json

    from rotnet import paths
    from rotnet.models.saved import load_model_file
    from rotnet.stages import finetune, pretrain

    pretrain.run(project, "cifar10", "nin")
    update = {"network": "whole", "heads": ["linear"]}
    whole = project.model_copy(update={"finetune": project.finetune.model_copy(update=update)})
    finetune.run(whole, "cifar10", "nin", head="linear")
    kind = paths.variant_kind("finetune", "linear")
    record = json.loads(paths.record_file(kind, "cifar10", "nin").read_text())
    assert record["setting"] == "whole" and record["head"] == "linear" and record["layer"] == ""
    saved = load_model_file(paths.model_file(kind, "cifar10", "nin"))
    assert "stages.block4.0.weight" in saved["state_dict"] and saved.get("cut") is None
