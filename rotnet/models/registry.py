"""Backbone registry and factory: build any backbone by name with typed options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from rotnet.errors import RotnetError
from rotnet.models.base import Backbone


@dataclass(frozen=True)
class _Entry:
    build: Callable[..., Backbone]
    options: type[BaseModel]


_REGISTRY: dict[str, _Entry] = {}


def register_backbone(
    name: str, options: type[BaseModel]
) -> Callable[[Callable[..., Backbone]], Callable[..., Backbone]]:
    """Register ``build(options, num_classes, in_chans) -> Backbone`` under ``name``."""

    def wrap(build: Callable[..., Backbone]) -> Callable[..., Backbone]:
        if name in _REGISTRY:
            raise ValueError(f"backbone '{name}' registered twice")
        _REGISTRY[name] = _Entry(build, options)
        return build

    return wrap


def list_backbones() -> list[str]:
    return sorted(_REGISTRY)


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise RotnetError(f"unknown backbone '{name}'; valid backbones: {', '.join(list_backbones())}")
    return _REGISTRY[name]


def resolve_arch(name: str, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """A params entry may name its architecture (``arch: efficientnet_b0``) so that one
    architecture can appear under several names with different options; the default
    architecture is the entry's own name."""
    opts = dict(options or {})
    return str(opts.pop("arch", name)), opts


def validate_backbone_options(name: str, options: dict[str, Any], source: str = "params.yaml") -> BaseModel:
    arch, options = resolve_arch(name, options)
    if arch not in _REGISTRY:
        where = f" (backbones.{name}.arch)" if arch != name else ""
        raise RotnetError(f"unknown backbone '{arch}'{where}; valid backbones: {', '.join(list_backbones())}")
    entry = _REGISTRY[arch]
    try:
        return entry.options.model_validate(options)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in err.errors()
        )
        valid = ", ".join(["arch", *entry.options.model_fields])
        raise RotnetError(
            f"invalid options for backbone '{name}' in {source} (backbones.{name}): {problems}. Valid options: {valid}"
        ) from None


def create_backbone(name: str, num_classes: int, in_chans: int = 3, options: dict[str, Any] | None = None) -> Backbone:
    """Build backbone ``name`` (or its ``arch`` option) with a ``num_classes`` head."""
    opts = validate_backbone_options(name, options or {})
    return _entry(resolve_arch(name, options)[0]).build(opts, num_classes=num_classes, in_chans=in_chans)


def describe_backbones() -> str:
    lines = []
    for name in list_backbones():
        opts = _REGISTRY[name].options
        fields = ", ".join(f"{k}={f.default!r}" for k, f in opts.model_fields.items())
        lines.append(f"{name}: {fields}")
    return "\n".join(lines)
