"""Keras layers of attention-center (registered, serializable, backend-agnostic)."""

from attention_center.layers.gravity_center import GravityCenter
from attention_center.layers.normalization import ImageNormalization
from attention_center.layers.resize import ResizeTo

__all__ = ["GravityCenter", "ImageNormalization", "ResizeTo"]
