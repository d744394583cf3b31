"""The backbone contract (rotnet.models.base), checked on every registered backbone (and,
at the end, across the three families on odd input sizes and fresh classifiers).

Built small so the file runs in seconds on two cores: NIN at width 16, the ResNets at
width 4, EfficientNet-B0..B7 at ``width_multiplier: 0.25`` (their full depth; the real
sizes are checked against timm in test_families.py), on 16x16 inputs, batch 2. Each model
is built once and shared by the tests that only read it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator

import pytest
import torch

from rotnet.models.base import Backbone
from rotnet.models.registry import create_backbone, list_backbones
from rotnet.models.saved import build_model, load_model_file, model_state, save_model_file

SMALL = (
    {"nin": {"width": 16}}
    | {f"resnet{d}": {"width": 4} for d in (18, 34, 50, 101, 152)}
    | {f"efficientnet_b{i}": {"width_multiplier": 0.25} for i in range(8)}
)
BACKBONES = list_backbones()
SIZE = 16
CLASSES = 11  # like 7 below, no layer's channel count or kernel size


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Batch-2 maps are tiny: a second intra-op thread only adds sync cost, which becomes
    # seconds per forward when the cores are shared with other jobs.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", autouse=True)
def _free_shared_models() -> Iterator[None]:
    yield
    _shared.cache_clear()
    _reference.cache_clear()


@functools.cache
def _shared(name: str) -> Backbone:
    """One eval-mode model per backbone, built from seed 0."""
    torch.manual_seed(0)
    return create_backbone(name, CLASSES, options=SMALL.get(name)).eval()


def _input() -> torch.Tensor:
    return torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


@functools.cache
@torch.no_grad()
def _reference(name: str) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The shared model's intermediates and logits for ``_input()``."""
    model, x = _shared(name), _input()
    return model.forward_intermediates(x), model(x)


def _module_calls(model: torch.nn.Module, run: Callable[[], object]) -> int:
    """How many submodule forwards ``run()`` triggers: shows that work was skipped."""
    calls = 0

    def count(*_: object) -> None:
        nonlocal calls
        calls += 1

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return calls


def _classifier_names(model: Backbone) -> set[str]:
    prefix = next(name for name, m in model.named_modules() if m is model.get_classifier())
    return {f"{prefix}.{n}" for n, _ in model.get_classifier().named_parameters()}


def test_every_architecture_is_tested():
    # A new backbone needs its small size here, so that the contract tests below build it cheaply.
    assert set(BACKBONES) == set(SMALL)


@pytest.mark.parametrize("name", BACKBONES)
def test_intermediates_match_feature_info(name):
    model = _shared(name)
    feats, _ = _reference(name)
    assert list(feats) == model.feature_names == list(model.stages)
    assert len(model.feature_names) >= 2
    for info in model.feature_info:
        assert feats[info.name].shape == (2, info.channels, SIZE // info.stride, SIZE // info.stride), info


@pytest.mark.parametrize("name", BACKBONES)
@torch.no_grad()
def test_upto_stops_after_that_map(name):
    model, x = _shared(name), _input()
    full, _ = _reference(name)
    first, second = model.feature_names[:2]
    early = model.forward_intermediates(x, upto=second)
    assert list(early) == [first, second]
    assert torch.equal(early[first], full[first]) and torch.equal(early[second], full[second])
    calls_first = _module_calls(model, lambda: model.forward_intermediates(x, upto=first))
    calls_second = _module_calls(model, lambda: model.forward_intermediates(x, upto=second))
    assert calls_first < calls_second < _module_calls(model, lambda: model.forward_intermediates(x))
    with pytest.raises(ValueError, match="no feature map 'nope'"):
        model.forward_intermediates(x, upto="nope")


@pytest.mark.parametrize("name", BACKBONES)
@torch.no_grad()
def test_forward_is_head_of_features(name):
    model, x = _shared(name), _input()
    feats, logits = _reference(name)
    features = model.forward_features(x)
    assert isinstance(features, torch.Tensor)
    assert torch.equal(features, feats[model.feature_names[-1]])
    assert logits.shape == (2, CLASSES) and model.num_classes == CLASSES
    assert torch.equal(logits, model.forward_head(features))


@pytest.mark.parametrize("name", BACKBONES)
@torch.no_grad()
def test_reset_classifier_replaces_only_the_classifier(name):
    # On the shared model (a second build of B7 costs a second), restored at the end.
    model, x = _shared(name), _input()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    classifier = _classifier_names(model)
    # get_classifier holds exactly the weights sized by the number of classes.
    assert {k for k, v in before.items() if CLASSES in v.shape} == classifier
    assert {p.shape[0] for p in model.get_classifier().parameters()} == {CLASSES}
    try:
        model.reset_classifier(7)
        assert model.num_classes == 7 and model(x).shape == (2, 7)
        after = model.state_dict()
        assert set(after) == set(before) and _classifier_names(model) == classifier
        assert {k for k, v in after.items() if 7 in v.shape} == classifier
        assert not any(CLASSES in v.shape for v in after.values())
        assert all(torch.equal(after[k], v) for k, v in before.items() if k not in classifier)
        new = model.get_classifier()
        assert new.training is model.training is False
        assert not torch.equal(new.weight, torch.zeros_like(new.weight))
        # Initialised like the original: biases zero exactly when the constructor zeroes them.
        built_bias = next(v for k, v in before.items() if k in classifier and k.endswith("bias"))
        assert bool((new.bias == 0).all()) == bool((built_bias == 0).all())
    finally:
        model.reset_classifier(CLASSES)
        model.load_state_dict(before)
    assert torch.equal(model(x), _reference(name)[1])  # restored for the other tests


@pytest.mark.parametrize("name", BACKBONES)
@torch.no_grad()
def test_saved_model_rebuilds_the_same_outputs(name, tmp_path):
    model, x = _shared(name), _input()
    info = dict(kind="supervised", backbone=name, backbone_options=SMALL.get(name), num_classes=CLASSES, in_chans=3)
    save_model_file(tmp_path / "model.pt", model_state(model, **info))
    again = build_model(load_model_file(tmp_path / "model.pt", kind="supervised")).eval()
    assert type(again) is type(model) and again.feature_info == model.feature_info
    assert torch.equal(again(x), _reference(name)[1])


@pytest.mark.parametrize("in_chans,size", [(3, 32), (1, 28)])
@pytest.mark.parametrize(
    "name,options",
    [
        ("nin", {"width": 16}),
        ("resnet18", {"width": 8}),
        ("resnet50", {"width": 4}),
        ("efficientnet_b0", None),
        ("efficientnet_b0", {"small_input": "upsample"}),
        ("efficientnet_b0", {"small_input": "upsample", "upsample_size": 64}),
    ],
)
@torch.no_grad()
def test_map_sizes_round_up_for_odd_inputs(name, options, in_chans, size):
    model = create_backbone(name, 5, in_chans, options=options).eval()
    feats = model.forward_intermediates(torch.randn(2, in_chans, size, size))
    for info in model.feature_info:
        assert feats[info.name].shape == (2, info.channels, *(2 * (-(-size // info.stride),))), info  # ceil
    assert model(torch.randn(2, in_chans, size, size)).shape == (2, 5)


@pytest.mark.parametrize(
    "name,options", [("nin", {"width": 16}), ("resnet18", {"width": 8}), ("efficientnet_b0", None)]
)
def test_reset_classifier_initialises_like_the_constructor(name, options):
    torch.manual_seed(0)
    built = create_backbone(name, 7, options=options).get_classifier()
    model = create_backbone(name, 3, options=options)
    model.reset_classifier(7)
    new = model.get_classifier()
    assert type(new) is type(built) and new.weight.shape == built.weight.shape
    # Uniform inits: PyTorch's Linear (bound 1/sqrt(fan_in)), timm's EfficientNet (1/sqrt(fan_out)).
    bound = 1 / math.sqrt(7 if name.startswith("efficientnet") else built.in_features)
    for fc in (built, new):
        assert fc.weight.abs().max() <= bound and fc.weight.abs().max() > 0.8 * bound
    assert torch.equal(new.bias == 0, built.bias == 0)  # both zero (NIN, EfficientNet) or both drawn
    assert bool((new.bias == 0).all()) == (name != "resnet18")
