import pytest

from rotnet.seeds import choose_once, mean_tree, over_seeds, std_tree


def test_numbers_average_and_their_std_sits_at_the_same_keys():
    a = {"best": {"layer": "block2", "test_acc": 80.0}, "knn": {"block1": {"test_acc": 50.0}}, "images_per_s": 100}
    b = {"best": {"layer": "block2", "test_acc": 84.0}, "knn": {"block1": {"test_acc": 52.0}}, "images_per_s": 300}
    merged = over_seeds([a, b], [0, 1])
    assert merged["best"] == {"layer": "block2", "test_acc": 82.0}
    assert merged["knn"]["block1"]["test_acc"] == 51.0 and merged["images_per_s"] == 200.0
    assert merged["std"]["best"]["test_acc"] == pytest.approx(2.83, abs=0.01)  # sample std of 80, 84
    assert "layer" not in merged["std"]["best"] and merged["seeds"] == [0, 1]


def test_disagreeing_labels_are_all_kept_and_lists_average_elementwise():
    assert mean_tree(["block2", "block3", "block2"]) == "block2|block3"
    assert mean_tree([[[1, 0], [0, 3]], [[3, 0], [2, 1]]]) == [[2.0, 0.0], [1.0, 2.0]]
    assert std_tree([[1, 2], [3, 4]]) is None  # confusion matrices get no std


def test_one_seed_is_left_as_it_is():
    one = {"val_acc": 70.123, "test_acc": 69.0}
    assert over_seeds([one], [0]) is one


def test_lists_of_records_get_a_std_per_item():
    a = {"points": [{"labels_per_class": 20, "rotnet": {"test_acc": 30.0}}]}
    b = {"points": [{"labels_per_class": 20, "rotnet": {"test_acc": 34.0}}]}
    merged = over_seeds([a, b], [0, 1])
    assert merged["points"][0]["rotnet"]["test_acc"] == 32.0
    assert merged["std"]["points"][0]["rotnet"]["test_acc"] == pytest.approx(2.83, abs=0.01)


def test_one_choice_on_the_mean_validation_accuracy_over_seeds():
    # Seed 0 alone would choose a, seed 1 alone c; their mean validation accuracy chooses b.
    val = [{"a": 90.0, "b": 80.0, "c": 50.0}, {"a": 50.0, "b": 80.0, "c": 90.0}]
    assert [choose_once([v]) for v in val] == ["a", "c"]
    assert choose_once(val) == "b"
    assert choose_once([{"x": 70.0, "y": 70.0}, {"y": 60.0, "x": 60.0}]) == "x"  # a tie: the first seed's first


def test_a_choice_needs_the_same_candidates_for_every_seed():
    with pytest.raises(ValueError, match="same candidates"):
        choose_once([{"a": 1.0, "b": 2.0}, {"a": 1.0}])
    with pytest.raises(ValueError, match="at least one"):
        choose_once([])


def test_a_value_every_seed_shares_stays_as_it_is():
    merged = over_seeds([{"k": 20, "epoch": 3, "val_acc": 50.0}, {"k": 20, "epoch": 3, "val_acc": 52.0}], [0, 1])
    assert merged["k"] == 20 and isinstance(merged["k"], int) and merged["val_acc"] == 51.0
