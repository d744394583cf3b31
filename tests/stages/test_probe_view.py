"""The probe stage on a RotNet that saw its inputs masked (pretrain.mask, rotnet.rotation):
probed on the images as they are (the headline) and as the RotNet saw them (rotnet_view)."""

import json

import torch

from rotnet import paths
from rotnet.models.registry import create_backbone
from rotnet.models.saved import load_model_file, model_state, save_model_file
from rotnet.rotation import InputView
from rotnet.stages import probe


def _speedless(tree):
    if isinstance(tree, dict):
        return {k: _speedless(v) for k, v in tree.items() if k != "images_per_s"}
    return tree


def test_a_masked_rotnet_is_probed_on_masked_and_on_plain_inputs(project):
    # One cheap head and one kNN point keep the three probes of this test fast.
    small = {"heads": ["linear"], "knn_k": [10], "knn_temperature": [0.1]}
    project = project.model_copy(update={"probe": project.probe.model_copy(update=small)})
    # An untrained RotNet file as the pretrain stage writes one with pretrain.mask: circle
    # (test_pretrain_rotations checks the stage records it): the probes only read it.
    torch.manual_seed(0)
    model_file = paths.model_file("pretrain", "cifar10", "nin")
    net = create_backbone("nin", 4, options=project.backbone_options("nin"))
    info = dict(kind="pretrain", backbone="nin", backbone_options=project.backbone_options("nin"), num_classes=4)
    info.update(in_chans=3, rotations=[0, 90, 180, 270], **InputView(True).record())
    save_model_file(model_file, model_state(net, **info))
    ckpt = load_model_file(model_file)
    metrics = probe.run(project, "cifar10", "nin")
    seen = metrics["rotnet_view"]
    assert set(seen) == {"best", "layers", "knn", "images_per_s"} and set(seen["layers"]) == set(metrics["layers"])
    record = json.loads(paths.record_file("probe", "cifar10", "nin").read_text())
    assert record["rotnet_view"]["view"] == {"mask": "circle", "rotation_offset": 0.0}
    assert record["rotnet_view"]["shown"] == "inscribed-circle mask"
    assert record["best"] == metrics["best"]  # the headline: the images as they are
    # The headline is what the same RotNet gives without the second pass: the file without
    # its fields (read as images as they are) probes to the same figures, and nothing more.
    save_model_file(model_file, {k: v for k, v in ckpt.items() if k not in ("format", "mask", "rotation_offset")})
    plain = probe.run(project, "cifar10", "nin")
    assert "rotnet_view" not in plain
    assert _speedless(plain) == _speedless({k: v for k, v in metrics.items() if k != "rotnet_view"})
