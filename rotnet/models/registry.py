"""Build any backbone by name with typed options (``rotnet.models.options``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rotnet.models import nin
from rotnet.models.base import Backbone
from rotnet.models.options import ARCHS, resolve_arch, validate_backbone_options

__all__ = ["BUILDERS", "create_backbone", "list_backbones", "resolve_arch"]


# The ResNet and EfficientNet families build on timm, which takes seconds to import (it
# pulls in torchvision and torch._dynamo): each is imported when one of its models is built,
# so a NIN stage starts without it.
def _resnet(arch: str) -> Callable[..., Backbone]:
    def build(*args: Any, **kwargs: Any) -> Backbone:
        from rotnet.models import resnet

        return resnet.BUILDERS[arch](*args, **kwargs)

    return build


def _efficientnet(arch: str) -> Callable[..., Backbone]:
    def build(*args: Any, **kwargs: Any) -> Backbone:
        from rotnet.models import efficientnet

        return efficientnet.BUILDERS[arch](*args, **kwargs)

    return build


# build(options, num_classes, in_chans) -> Backbone, for every architecture in options.ARCHS.
BUILDERS: dict[str, Callable[..., Backbone]] = {
    "nin": nin.build_nin,
    **{a: _resnet(a) for a in ARCHS if a.startswith("resnet")},
    **{a: _efficientnet(a) for a in ARCHS if a.startswith("efficientnet")},
}


def list_backbones() -> list[str]:
    return sorted(BUILDERS)


def create_backbone(name: str, num_classes: int, in_chans: int = 3, options: dict[str, Any] | None = None) -> Backbone:
    """Build backbone ``name`` (or its ``arch`` option) with a ``num_classes`` head."""
    opts = validate_backbone_options(name, options or {})
    return BUILDERS[resolve_arch(name, options)[0]](opts, num_classes=num_classes, in_chans=in_chans)
