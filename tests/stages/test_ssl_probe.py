"""rotnet/stages/ssl_probe.py: the probe stage's heads, kNN and t-SNE on a SimCLR or BYOL backbone."""

import json

import pytest

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.stages import ssl_probe
from tests.stages.conftest import save_method_backbone


def test_it_probes_the_methods_backbone_as_the_probe_stage_probes_the_rotnet(project):
    save_method_backbone(project, "byol")
    params = project.model_copy(update={"probe": project.probe.model_copy(update={"tsne_images": 12})})
    metrics = ssl_probe.run(params, "cifar10", "nin", "byol")
    kind = paths.variant_kind("ssl_probe", "byol")
    assert set(metrics) >= {"best", "layers", "knn"} and set(metrics["knn"]) == {"block1", "block2", "block3", "block4"}
    assert json.loads(paths.metrics_file(kind, "cifar10", "nin").read_text()) == metrics
    folder = paths.model_dir(kind, "cifar10", "nin")
    assert (folder / "heads.pt").is_file()
    tsne = json.loads((folder / "tsne.json").read_text())
    assert tsne["layer"] == metrics["best"]["layer"] and tsne["images"] == 12 and len(tsne["x"]) == 12
    assert not paths.model_dir("probe", "cifar10", "nin").exists()  # not the RotNet's probe


def test_an_unpretrained_method_is_refused_by_its_model_file(project):
    with pytest.raises(RotnetError, match=r"ssl_pretrain/simclr/model.pt not found"):
        ssl_probe.run(project, "cifar10", "nin", "simclr")
