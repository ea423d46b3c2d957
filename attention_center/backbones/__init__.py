"""Backbone registry: pretrained classification networks as feature pyramids.

One registry (:func:`list_backbones`, :func:`build_backbone`), uniform pyramid taps
``P2``..``P5`` for every family (timm's ``features_only``, keras-hub's
``pyramid_outputs``), and each family's pretrained configuration beside its
architecture (:mod:`~attention_center.backbones.mobilenet`,
:mod:`~attention_center.backbones.efficientnet_lite`; see
:mod:`~attention_center.backbones.pretrained`).
"""

from attention_center.backbones import catalog as _catalog  # noqa: F401  (registers backbones)
from attention_center.backbones.pretrained import PretrainedConfig
from attention_center.backbones.registry import (
    LEVELS,
    BackboneSpec,
    build_backbone,
    get_backbone_spec,
    level_stride,
    list_backbones,
    register_backbone,
)

__all__ = [
    "LEVELS",
    "BackboneSpec",
    "PretrainedConfig",
    "build_backbone",
    "get_backbone_spec",
    "level_stride",
    "list_backbones",
    "register_backbone",
]
