"""rotnet/probing/semisup.py: the semi-supervised protocol the semisup and ssl_semisup stages share
(tests/stages/test_semisup.py and test_ssl_semisup.py run it through both stages): which labelled
subsets it calls official, and the label counts it refuses before training."""

import dataclasses

import pytest

from rotnet.probing.semisup import check_label_counts, subset_rule

OFFICIAL = {
    "what": "CIFAR-10 (official)",
    "official": True,
    "order": "the official order (data_batch_1 to data_batch_5)",
}
FOLDER = {"what": "image folder x", "official": False, "order": "file paths sorted within each class folder"}


@pytest.mark.parametrize(
    ("meta", "official", "says"),
    [
        (
            {"provenance": OFFICIAL, "val_source": "carved", "keep_first_per_class": 1000},
            True,
            "the official subsets: ",
        ),
        ({"provenance": FOLDER, "val_source": "carved", "keep_first_per_class": 1000}, False, "file paths sorted"),
        ({"provenance": FOLDER, "val_source": "folder", "keep_first_per_class": None}, False, "file paths sorted"),
        ({"provenance": OFFICIAL, "val_source": "carved", "keep_first_per_class": None}, False, "carve left"),
    ],
)
def test_subsets_are_called_official_only_in_the_official_order_and_untouched_by_the_carve(meta, official, says):
    rule = subset_rule(meta, "cifar10")
    assert rule["official"] is official and says in rule["description"]
    assert rule["description"].endswith(("data_batch_5)", "class folder", "not the source's first K)"))


def test_a_label_count_a_class_cannot_give_is_refused_before_training():
    from rotnet.errors import RotnetError
    from tests.synthetic import dataset

    data = dataset(n_train=40, classes=4)  # 10 per class
    check_label_counts(data, [2, 10])
    with pytest.raises(RotnetError, match="class 'c0' of synthetic's training split has 10 images; lower") as err:
        check_label_counts(data, [2, 11])
    assert "semisup.labels_per_class has 11" in str(err.value)
    carved = dataclasses.replace(data, meta={**data.meta, "val_source": "carved", "keep_first_per_class": 5})
    with pytest.raises(RotnetError, match="set datasets.synthetic.keep_first_per_class to 6"):
        check_label_counts(carved, [6])
