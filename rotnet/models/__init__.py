"""Backbones behind one contract (see rotnet.models.base) and the probe heads."""

from rotnet.models import efficientnet, nin, resnet  # noqa: F401  (register the backbones)
from rotnet.models.base import Backbone, FeatureInfo
from rotnet.models.registry import create_backbone, list_backbones

__all__ = ["Backbone", "FeatureInfo", "create_backbone", "list_backbones"]
