"""backbones.<name>.recipe: a training section as one backbone runs it."""

import pytest

from rotnet.errors import RotnetError
from rotnet.params import parse_params

RECIPE = {
    "supervised": {"label_smoothing": 0.1, "schedule": {"warmup_epochs": 2}, "optimizer": {"name": "adamw"}},
    "pretrain": {"optimizer": {"lr": 0.05}},
}


def test_a_backbones_recipe_is_its_sections_with_its_keys_merged_in():
    params = parse_params({"backbones": {"resnet18": {"width": 8, "recipe": RECIPE}}})
    own = params.recipe("supervised", "resnet18")
    assert own.label_smoothing == 0.1 and own.optimizer.name == "adamw"
    assert own.schedule.warmup_epochs == 2
    # keys it does not name keep the section's values, nested ones too
    assert own.schedule.milestones == params.supervised.schedule.milestones
    assert own.optimizer.lr == params.supervised.optimizer.lr and own.epochs == params.supervised.epochs
    assert params.recipe("pretrain", "resnet18").optimizer.lr == 0.05
    assert params.recipe("probe", "resnet18") == params.probe  # no override: the section itself
    assert params.recipe("supervised", "nin") == params.supervised  # other backbones: untouched
    # the recipe is not a model option: models and their files never see it
    assert params.backbone_options("resnet18") == {"width": 8}


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"train": {"epochs": 3}}, r"backbones\.resnet18\.recipe\.train: not a training section"),
        ({"supervised": {"optimizer": {"lr": -1}}}, r"backbones\.resnet18\.recipe\.supervised\.optimizer\.lr"),
        ({"pretrain": {"epochs": 10}}, r"backbones\.resnet18\.recipe\.pretrain: schedule\.milestones"),
        ({"supervised": 3}, r"backbones\.resnet18\.recipe\.supervised must be a mapping"),
    ],
)
def test_a_bad_recipe_names_its_key(recipe, message):
    with pytest.raises(RotnetError, match=message):
        parse_params({"backbones": {"resnet18": {"recipe": recipe}}})


def test_a_recipe_is_checked_where_the_study_uses_its_backbone():
    # efficientnet_b7 is not in the study: a short quick-profile section does not trip its
    # long warm-up; the stage that would use it names the key
    raw = {
        "supervised": {"epochs": 4, "schedule": {"milestones": [3]}},
        "backbones": {"efficientnet_b7": {"recipe": {"supervised": {"schedule": {"warmup_epochs": 5}}}}},
    }
    params = parse_params(raw)
    with pytest.raises(RotnetError, match=r"backbones\.efficientnet_b7\.recipe\.supervised: schedule\.warmup_epochs"):
        params.recipe("supervised", "efficientnet_b7")
    raw["study"] = {"backbones": ["nin", "efficientnet_b7"]}
    with pytest.raises(RotnetError, match=r"backbones\.efficientnet_b7\.recipe\.supervised"):
        parse_params(raw)
