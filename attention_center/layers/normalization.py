"""ImageNormalization: RGB in [0, 1] -> what a backbone's weights expect."""

from __future__ import annotations

import keras
from keras import ops

#: mode -> (scale, offset) applied per channel as ``x * scale + offset`` to RGB in [0, 1].
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

MODES = ("identity", "tf", "torch", "raw255", "caffe")


@keras.saving.register_keras_serializable(package="attention_center")
class ImageNormalization(keras.layers.Layer):
    """Maps float32 RGB in [0, 1] to a backbone's expected input.

    Every attention-center model takes RGB in [0, 1] (Google's interface); the
    backbone's own convention lives in this layer, inside the model, so an
    exported model needs no preprocessing outside it.

    Modes:
      ``identity``: unchanged.
      ``tf``: ``2x - 1``, i.e. [-1, 1] (Keras MobileNetV2 ImageNet weights).
      ``torch``: ``(x - mean) / std`` with ImageNet mean and std (torchvision).
      ``raw255``: ``255x`` (models that normalize inside themselves:
        Keras EfficientNet and MobileNetV3).
      ``caffe``: RGB -> BGR, ``255x - mean_bgr`` (Keras ResNet50).

    Input and output: ``float32 [B, H, W, 3]``.
    """

    def __init__(self, mode="tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"ImageNormalization mode must be one of {MODES}, got {mode!r}")
        self.mode = mode

    def call(self, images):
        images = ops.cast(images, self.compute_dtype)
        if self.mode == "identity":
            return images
        if self.mode == "tf":
            return images * 2.0 - 1.0
        if self.mode == "raw255":
            return images * 255.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_IMAGENET_MEAN, dtype=self.compute_dtype)
            std = ops.convert_to_tensor(_IMAGENET_STD, dtype=self.compute_dtype)
            return (images - mean) / std
        # caffe
        bgr = ops.flip(images, axis=-1) * 255.0
        return bgr - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode)
        return config
