"""GravityCenter: the centre of mass of a weighting map, as a Keras layer."""

from __future__ import annotations

import math
import numbers

import keras
from keras import ops


def _positive_stride(stride) -> tuple[float, float]:
    """``stride`` (a number, or ``(stride_y, stride_x)``) as two positive floats.

    Raises:
      ValueError: anything else, naming ``stride``.
    """
    pair = (stride, stride) if isinstance(stride, numbers.Real) else stride
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0
        for v in pair
    ):
        raise ValueError(
            f"stride must be a positive number or (stride_y, stride_x), got {stride!r}"
        )
    return tuple(float(v) for v in pair)


@keras.saving.register_keras_serializable(package="attention_center")
class GravityCenter(keras.layers.Layer):
    """Weighting map ``[B, h, w, 1]`` -> its gravity centre ``[B, 2]`` = (x, y).

    The map is normalized to sum to one over ``h x w`` and contracted with a
    coordinate grid by ``einsum("bhw,hwc->bc")`` (TFLite: BATCH_MATMUL, a
    builtin op; a form such as ``"bhw,w->b"`` would need Flex ops).

    Coordinates are **x first**, **0-based pixel centres** of the frame the map
    covers: map cell (row ``i``, column ``j``) stands for the block of
    ``stride_y x stride_x`` frame pixels whose centre is
    ``x = (j + 0.5) * stride_x - 0.5``, ``y = (i + 0.5) * stride_y - 0.5``.
    A one-hot map at ``(i, j)`` with stride 1 therefore gives ``(j, i)``.

    Call with either the map alone (the strides come from ``stride``), or
    ``[map, image]``, in which case the strides are ``image size / map size``
    per axis and the centre is in pixels of the image (the model's input frame).

    Args:
      stride: frame pixels per map cell when called on the map alone; a positive number
        or ``(stride_y, stride_x)`` of positive numbers.
      epsilon: added to the map's sum; keeps an all-zero map finite.

    Input: ``[B, h, w, 1]`` non-negative weights (a sigmoid output; any float dtype, the
      sums run in float32), and with ``[map, image]`` an image ``[B, H, W, C]``.
    Output: ``float32 [B, 2]``, (x, y).

    Raises:
      ValueError: (at construction) a ``stride`` that is not one or two positive numbers;
        (at build or call) the map is not of rank 4 with one channel, or the image
        is not of rank 4; a map of several channels is not averaged or split, it is refused.
    """

    def __init__(self, stride=1, epsilon=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.stride = _positive_stride(stride)
        self.epsilon = float(epsilon)

    def _check_shapes(self, map_shape, image_shape=None):
        map_shape = tuple(map_shape)
        if len(map_shape) != 4 or map_shape[-1] not in (None, 1):
            raise ValueError(
                f"{self.name}: GravityCenter takes a weighting map [B, h, w, 1], got shape "
                f"{map_shape} (one channel; for several maps, apply it to each channel's "
                "slice x[..., i:i + 1])"
            )
        if image_shape is not None and len(tuple(image_shape)) != 4:
            raise ValueError(
                f"{self.name}: GravityCenter([map, image]) takes an image [B, H, W, C], got "
                f"shape {tuple(image_shape)}"
            )

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            if len(input_shape) != 2:
                raise ValueError(
                    f"{self.name}: GravityCenter takes a map or [map, image], got "
                    f"{len(input_shape)} inputs"
                )
            self._check_shapes(input_shape[0], input_shape[1])
        else:
            self._check_shapes(input_shape)
        super().build(input_shape)

    def _grid(self, map_h, map_w, stride_y, stride_x):
        """``[h, w, 2]`` float32 grid of (x, y) frame coordinates of cell centres."""
        xs = (ops.cast(ops.arange(map_w), "float32") + 0.5) * stride_x - 0.5
        ys = (ops.cast(ops.arange(map_h), "float32") + 0.5) * stride_y - 0.5
        grid_x = ops.broadcast_to(ops.expand_dims(xs, 0), (map_h, map_w))
        grid_y = ops.broadcast_to(ops.expand_dims(ys, 1), (map_h, map_w))
        return ops.stack([grid_x, grid_y], axis=-1)

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            weight_map, image = inputs
            self._check_shapes(weight_map.shape, image.shape)
            image_shape = ops.shape(image)
            map_shape = ops.shape(weight_map)
            stride_y = ops.cast(image_shape[1], "float32") / ops.cast(map_shape[1], "float32")
            stride_x = ops.cast(image_shape[2], "float32") / ops.cast(map_shape[2], "float32")
        else:
            weight_map = inputs
            self._check_shapes(weight_map.shape)
            stride_y, stride_x = self.stride
        weight_map = ops.cast(weight_map, "float32")
        shape = ops.shape(weight_map)
        weights = ops.reshape(weight_map, (-1, shape[1], shape[2]))
        total = ops.sum(weights, axis=(1, 2), keepdims=True) + self.epsilon
        weights = weights / total
        grid = self._grid(shape[1], shape[2], stride_y, stride_x)
        return ops.einsum("bhw,hwc->bc", weights, grid)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        return (input_shape[0], 2)

    def get_config(self):
        config = super().get_config()
        config.update(stride=list(self.stride), epsilon=self.epsilon)
        return config
