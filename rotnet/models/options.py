"""Typed options of every backbone family, and the architecture names they belong to.

Only pydantic: ``rotnet.params`` validates params.yaml with this module without loading
torch or timm. ``rotnet.models.registry`` builds the models; every name in ``ARCHS`` has a
builder there and every builder a name here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rotnet.errors import RotnetError

EFFICIENTNET_REFERENCE_SIZE = 32  # upsample_size is the side a 32x32 image is resized to


class NinOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    blocks: int = Field(4, ge=3, le=5)  # the paper studies 3, 4 and 5 blocks
    width: int = Field(192, ge=8)  # 192 in the paper; smaller widths for CPU demos
    # kaiming: convs kaiming-normal (fan-out), BatchNorm weights 1, classifier bias 0 (modern
    # practice). official: what the official code trained from, since its NIN never calls its
    # own weight_initialization: PyTorch 0.2's defaults. Convs and linears U(+-1/sqrt(fan_in)),
    # today's defaults too, but BatchNorm weights U(0, 1), as PyTorch drew them until 0.4.1
    # (pytorch/pytorch#12259, changed to 1 by #12325 in October 2018).
    init: Literal["kaiming", "official"] = "kaiming"


class ResNetOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    width: int = Field(64, ge=4)  # channels of the stem and stage 1 (64 in the standard ResNet)


class EfficientNetOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    small_input: Literal["stride", "upsample"] = "stride"
    # Side a 32x32 image is resized to in "upsample" mode; other sizes are scaled by the same
    # factor. The factor must be a power of two so every kept map has an integer stride.
    upsample_size: int = Field(128, ge=EFFICIENTNET_REFERENCE_SIZE, le=1024)  # 1024: the head at stride 1
    # Multiplies the variant's own channel multiplier (B0 1.0 ... B7 2.0), depth unchanged:
    # below 1 for CPU demos and tests, like NIN's and the ResNets' width.
    width_multiplier: float = Field(1.0, gt=0.0, le=4.0)
    drop_rate: float = Field(0.2, ge=0.0, lt=1.0)  # dropout before the classifier (timm's B0 value)
    drop_path_rate: float = Field(0.0, ge=0.0, lt=1.0)  # stochastic depth
    # The classifier's initial weights. timm's init scales as 1/sqrt(classes), so on few
    # classes the first loss sits far above chance (2.72 on 3 classes); zero starts at chance.
    head_init: Literal["timm", "zero"] = "timm"
    # Zero the scale of the last BatchNorm in every residual block, so each block starts as
    # the identity and a deep variant starts as shallow as B0's stage entries (Goyal et al.
    # 2017, sec. 5.1; timm's ResNets do this by default, its EfficientNets do not).
    zero_init_last: bool = False

    @field_validator("upsample_size")
    @classmethod
    def _power_of_two_factor(cls, v: int) -> int:
        factor = v // EFFICIENTNET_REFERENCE_SIZE
        if v % EFFICIENTNET_REFERENCE_SIZE or factor & (factor - 1):
            raise ValueError("must be 32 times a power of two (32, 64, 128, ..., 1024)")
        return v


RESNET_DEPTHS = (18, 34, 50, 101, 152)
EFFICIENTNET_VARIANTS = tuple(f"efficientnet_b{i}" for i in range(8))

# Every registered architecture and the options it takes.
ARCHS: dict[str, type[BaseModel]] = {
    "nin": NinOptions,
    **{f"resnet{d}": ResNetOptions for d in RESNET_DEPTHS},
    **dict.fromkeys(EFFICIENTNET_VARIANTS, EfficientNetOptions),
}


def arch_names() -> list[str]:
    return sorted(ARCHS)


def resolve_arch(name: str, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """A params entry may name its architecture (``arch: efficientnet_b0``) so that one
    architecture can appear under several names with different options; the default
    architecture is the entry's own name."""
    opts = dict(options or {})
    return str(opts.pop("arch", name)), opts


def validate_backbone_options(name: str, options: dict[str, Any], source: str = "params.yaml") -> BaseModel:
    """The typed options of params entry ``name``; RotnetError naming every problem."""
    arch, options = resolve_arch(name, options)
    if arch not in ARCHS:
        where = f" (backbones.{name}.arch)" if arch != name else ""
        raise RotnetError(f"unknown backbone '{arch}'{where}; valid backbones: {', '.join(arch_names())}")
    model = ARCHS[arch]
    try:
        return model.model_validate(options)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in err.errors()
        )
        valid = ", ".join(["arch", *model.model_fields])
        raise RotnetError(
            f"invalid options for backbone '{name}' in {source} (backbones.{name}): {problems}. Valid options: {valid}"
        ) from None


def effective_options(name: str, entry: Mapping[str, Any] | None) -> tuple[str, list[tuple[str, Any, bool]]]:
    """What params entry ``name`` builds: its architecture, and every option of it as
    (option, value, whether the entry sets it) with the architecture's defaults filled in.
    ``recipe`` is a training change, not an option, and is left out."""
    given = {k: v for k, v in (entry or {}).items() if k != "recipe"}
    arch, own = resolve_arch(name, given)
    typed = validate_backbone_options(name, given)
    return arch, [(key, getattr(typed, key), key in own) for key in type(typed).model_fields]


def describe_options(entries: Mapping[str, Mapping[str, Any] | None], uses: Mapping[str, Sequence[str]]) -> str:
    """The options each backbone entry builds with, params merged into the defaults: one line
    per entry, ``*`` on what the entry sets, ``[role]`` where the study uses it (``uses``: role
    -> backbone names), the training sections its ``recipe`` changes; used entries first, then
    the others, then architectures without an entry (their defaults)."""
    roles: dict[str, list[str]] = {}
    for role, names in uses.items():
        for name in names:
            roles.setdefault(name, []).append(role)
    lines = ["* = set by the backbone's params entry (the rest are defaults); [list] = the params lists naming it"]
    for name in [*roles, *sorted(set(entries) - set(roles))]:
        entry = entries.get(name) or {}
        arch, options = effective_options(name, entry)
        shown = ", ".join(f"{key}={value!r}{'*' if set_here else ''}" for key, value, set_here in options)
        head = name + (f" ({arch})" if arch != name else "") + "".join(f" [{r}]" for r in roles.get(name, []))
        recipe = entry.get("recipe") or {}
        lines.append(f"{head}: {shown}" + (f"; recipe: {', '.join(recipe)}" if recipe else ""))
    for arch in sorted(set(ARCHS) - set(entries) - set(roles)):
        _, options = effective_options(arch, None)
        lines.append(f"{arch} (no params entry): " + ", ".join(f"{key}={value!r}" for key, value, _ in options))
    return "\n".join(lines)
