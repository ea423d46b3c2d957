"""Keras layers of attention-center (registered, serializable, backend-agnostic)."""

from attention_center.heads.center_head import AttentionCenterHead
from attention_center.layers.gravity_center import GravityCenter
from attention_center.layers.normalization import ImageNormalization

__all__ = ["AttentionCenterHead", "GravityCenter", "ImageNormalization"]
