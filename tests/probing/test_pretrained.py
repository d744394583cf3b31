"""rotnet/probing/pretrained.py: probing a pretrained model file, and its t-SNE record."""

import json

import pytest

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.probing.pretrained import TSNE_FILE, probe_pretrained
from tests.stages.conftest import save_method_backbone


def test_no_picture_when_tsne_images_is_0_and_the_file_kind_is_checked(project):
    save_method_backbone(project, "simclr")
    off = project.model_copy(update={"probe": project.probe.model_copy(update={"tsne_images": 0})})
    upstream = paths.variant_kind("ssl_pretrain", "simclr")
    probe_pretrained(off, "ssl_probe", "cifar10", "nin", upstream=upstream, kind="ssl_pretrain", variant="simclr")
    record = json.loads((paths.model_dir("ssl_probe/simclr", "cifar10", "nin") / TSNE_FILE).read_text())
    assert record == {"images": 0, "why": "probe.tsne_images is 0"}  # the report draws no empty panel
    with pytest.raises(RotnetError, match=r"holds a 'ssl_pretrain' model, but a 'pretrain' model is needed"):
        probe_pretrained(off, "ssl_probe", "cifar10", "nin", upstream=upstream, kind="pretrain", variant="simclr")
