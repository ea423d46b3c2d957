"""The model frame and the project's one image <-> frame coordinate transform.

Conventions (used everywhere in attention-center):

* A point is ``(x, y)``, **x first**, in **0-based pixel-centre** coordinates:
  the centre of the pixel in column ``j`` and row ``i`` is ``(x, y) = (j, i)``;
  the image covers ``[-0.5, w - 0.5] x [-0.5, h - 0.5]``.
* Sizes are ``(height, width)`` when they describe an array shape, as numpy
  and Keras do; the names say which (``frame_hw``, ``original_hw``).
* The *model frame* is the fixed ``H x W`` input of a model,
  :data:`MODEL_FRAME_HW` = 480x640 for Google's model and ours. An image is
  fitted into it as ``tf.image.resize_with_pad`` does: scaled with its aspect
  ratio kept so that it fits, then zero-padded equally on both sides (the odd
  pixel of padding goes to the bottom/right).
  :func:`attention_center.core.images.resize_with_pad` does that with Pillow
  (bicubic, antialiased); :class:`FrameTransform` is its exact geometry.
* "Original" pixels are those of the image *as displayed* (EXIF orientation
  applied); :mod:`attention_center.core.orientation` maps them to the pixels
  as stored in the file.

The transform is written with ``+ - * /`` and an injectable ``floor`` only, so
the same code runs on Python floats, numpy arrays and TensorFlow tensors (the
tf.data pipeline passes ``tf.floor``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["MODEL_FRAME_HW", "FrameTransform", "frame_transform", "parse_hw"]

#: ``(H, W)`` of the model frame of Google's ``center.tflite`` and of ours.
MODEL_FRAME_HW = (480, 640)


@dataclasses.dataclass(frozen=True)
class FrameTransform:
    """Geometry of an image fitted into a model frame by resize-with-pad.

    A point in original pixels maps to the frame as
    ``x_frame = (x + 0.5) * scale_x - 0.5 + pad_x`` (and likewise for y): pixel
    centres are scaled about the image's corner (half-pixel centres, as in
    ``tf.image.resize``) and shifted by the padding.

    Attributes:
      original_hw: ``(h, w)`` of the original image, pixels.
      frame_hw: ``(H, W)`` of the model frame, pixels.
      resized_hw: ``(h', w')`` the image occupies inside the frame.
      pad_y, pad_x: padding above and left of the image in the frame, pixels.
    """

    original_hw: tuple[Any, Any]
    frame_hw: tuple[Any, Any]
    resized_hw: tuple[Any, Any]
    pad_y: Any
    pad_x: Any

    @property
    def scale_x(self):
        return self.resized_hw[1] / self.original_hw[1]

    @property
    def scale_y(self):
        return self.resized_hw[0] / self.original_hw[0]

    def to_frame(self, x, y):
        """Maps original-image pixel coordinates to model-frame coordinates.

        Args:
          x, y: scalars or arrays (numpy or tensors), 0-based pixel centres of
            the original image.
        Returns:
          ``(x_frame, y_frame)``, same types, 0-based pixel centres of the frame.
        """
        return (
            (x + 0.5) * self.scale_x - 0.5 + self.pad_x,
            (y + 0.5) * self.scale_y - 0.5 + self.pad_y,
        )

    def to_original(self, x, y, clamp: bool = True):
        """Maps model-frame coordinates back to original-image pixels.

        Args:
          x, y: 0-based pixel centres in the frame (float scalars or numpy).
          clamp: clamp the result to ``[0, w - 1] x [0, h - 1]``, the centres of
            the outermost pixels (a centre on the padding lands on the edge).
        Returns:
          ``(x_original, y_original)`` as floats / float arrays.
        """
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        xo = (x - float(self.pad_x) + 0.5) / float(self.scale_x) - 0.5
        yo = (y - float(self.pad_y) + 0.5) / float(self.scale_y) - 0.5
        if clamp:
            h, w = self.original_hw
            xo = np.clip(xo, 0.0, w - 1)
            yo = np.clip(yo, 0.0, h - 1)
        return xo, yo

    def points_to_frame(self, points: np.ndarray) -> np.ndarray:
        """``[..., 2]`` (x, y) original pixels -> ``[..., 2]`` frame pixels (float32)."""
        points = np.asarray(points, np.float64)
        x, y = self.to_frame(points[..., 0], points[..., 1])
        return np.stack([x, y], axis=-1).astype(np.float32)

    def points_to_original(self, points: np.ndarray, clamp: bool = True) -> np.ndarray:
        """``[..., 2]`` (x, y) frame pixels -> ``[..., 2]`` original pixels (float64)."""
        points = np.asarray(points, np.float64)
        x, y = self.to_original(points[..., 0], points[..., 1], clamp=clamp)
        return np.stack([x, y], axis=-1)


def _float32(value):
    """Python and numpy numbers -> ``np.float32``; tensors pass through (cast them before)."""
    if isinstance(value, (int, float, np.number)):
        return np.float32(value)
    return value * 1.0


def frame_transform(
    original_hw, frame_hw=MODEL_FRAME_HW, floor: Callable = math.floor, maximum: Callable = max
) -> FrameTransform:
    """Returns the geometry ``tf.image.resize_with_pad`` uses for these sizes.

    Mirrors TensorFlow's arithmetic exactly, in float32: ``ratio = max(w / W, h / H)``,
    resized size ``floor(size / ratio)``, padding ``floor((frame - size/ratio) / 2)``
    before the image (so any odd pixel of padding goes after it).

    Args:
      original_hw: ``(h, w)`` of the image (ints, or float32 tensors).
      frame_hw: ``(H, W)`` of the model frame.
      floor, maximum: the floor and max functions for the array type
        (``tf.floor``/``tf.maximum`` inside tf.data; Python's by default).
    """
    # float32 like TensorFlow: in float64 a 256x256 image fits at 480 px, in TF at 479.
    h, w = (_float32(v) for v in original_hw)
    fh, fw = (_float32(v) for v in frame_hw)
    ratio = maximum(w / fw, h / fh)
    rh_float = h / ratio
    rw_float = w / ratio
    # At least one pixel, even for a 1x20000 strip.
    resized_hw = (maximum(floor(rh_float), 1.0), maximum(floor(rw_float), 1.0))
    pad_y = maximum(floor((fh - rh_float) / 2), 0.0)
    pad_x = maximum(floor((fw - rw_float) / 2), 0.0)
    return FrameTransform(
        original_hw=(h, w), frame_hw=(fh, fw), resized_hw=resized_hw, pad_y=pad_y, pad_x=pad_x
    )


def parse_hw(text: str) -> tuple[int, int]:
    """``"240x320"`` -> ``(240, 320)``: a size written height x width, as in ``--input_size``."""
    try:
        height, width = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"size must be HxW, e.g. 480x640, got {text!r}") from None
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {text!r}")
    return height, width
