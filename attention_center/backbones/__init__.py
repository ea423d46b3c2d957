"""Backbone registry: pretrained classification networks as feature pyramids."""

from attention_center.backbones import catalog as _catalog  # noqa: F401  (registers backbones)
from attention_center.backbones.registry import (LEVELS, BackboneSpec, build_backbone,
                                                 get_backbone_spec, level_stride, list_backbones,
                                                 register_backbone)

__all__ = ["LEVELS", "BackboneSpec", "build_backbone", "get_backbone_spec", "level_stride",
           "list_backbones", "register_backbone"]
