"""ResizeTo: resize a batch of images to a fixed size inside a model."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="attention_center")
class ResizeTo(keras.layers.Layer):
    """Resizes ``float32 [B, H, W, C]`` to ``[B, height, width, C]`` (no antialiasing).

    Used by :class:`~attention_center.models.AttentionCenterModel` to bring an
    input frame of another size to the size the network was trained at
    (``internal_hw``). Corners are aligned as half-pixel centres (TF's
    ``half_pixel_centers=True``), so frame pixel ``(x, y)`` maps to
    ``((x + 0.5) * width / W - 0.5, ...)``, the same convention as
    :mod:`attention_center.core.frames`. Lowers to TFLite's builtin ``RESIZE_BILINEAR``.

    Why not ``keras.layers.Resizing``: in Keras 3.15 a functional model that
    contains that preprocessing layer runs its batch-normalization layers in
    training mode when called as ``model(x)`` without ``training=False``
    (tested in ``tests/model_test.py``).
    """

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        self.height = int(height)
        self.width = int(width)
        self.interpolation = interpolation

    def call(self, images):
        return ops.image.resize(
            images, (self.height, self.width), interpolation=self.interpolation, antialias=False
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width, interpolation=self.interpolation)
        return config
