"""Images and the one coordinate transform of the project.

Every module that loads an image, fits it into a model's frame or moves a
point between the original image and that frame uses this module, so there is
exactly one definition of each.

Conventions (used everywhere in attention-center):

* A point is ``(x, y)``, **x first**, in **0-based pixel-centre** coordinates:
  the centre of the pixel in column ``j`` and row ``i`` is ``(x, y) = (j, i)``;
  the image covers ``[-0.5, w - 0.5] x [-0.5, h - 0.5]``.
* Sizes are ``(height, width)`` when they describe an array shape, as numpy
  and Keras do; the names say which (``frame_hw``, ``original_hw``).
* The *model frame* is the fixed ``frame_h x frame_w`` input of a model
  (480x640 for Google's model and ours). An image is fitted into it as
  ``tf.image.resize_with_pad`` does: scaled with its aspect ratio kept so that
  it fits, then zero-padded equally on both sides (the odd pixel of padding goes
  to the bottom/right). :func:`resize_with_pad` reproduces that with Pillow
  (bicubic, antialiased), and :class:`FrameTransform` is its exact geometry.

The transform is written with ``+ - * /`` and an injectable ``floor`` only, so
the same code runs on Python floats, numpy arrays and TensorFlow tensors (the
tf.data pipeline passes ``tf.floor``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "ImageLoadError",
    "FrameTransform",
    "frame_transform",
    "load_image",
    "parse_hw",
    "resize_with_pad",
    "to_float",
]

#: Largest image we agree to decode, in pixels (Pillow raises above 2x this).
MAX_IMAGE_PIXELS = 200_000_000


class ImageLoadError(ValueError):
    """An image file could not be turned into RGB pixels.

    Attributes:
      path: the file.
      reason: one line saying what is wrong with it.
    """

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


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
        return ((x + 0.5) * self.scale_x - 0.5 + self.pad_x,
                (y + 0.5) * self.scale_y - 0.5 + self.pad_y)

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


def frame_transform(original_hw, frame_hw, floor: Callable = math.floor,
                    maximum: Callable = max) -> FrameTransform:
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
    return FrameTransform(original_hw=(h, w), frame_hw=(fh, fw),
                          resized_hw=resized_hw, pad_y=pad_y, pad_x=pad_x)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode (L, LA, P, RGBA, CMYK, I;16, I, F, 1) -> 8-bit RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        image = Image.fromarray(array, mode="L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def load_image(path: os.PathLike | str) -> np.ndarray:
    """Decodes an image file into RGB pixels as people see it.

    EXIF orientation is applied (the array is the upright image), so centres
    computed on it refer to the displayed orientation. Grayscale, palette,
    RGBA/LA (composited on white), CMYK and 16-bit images become 8-bit RGB; an
    animated image gives its first frame.

    Args:
      path: an image file Pillow can read (JPEG, PNG, GIF, WebP, TIFF, ...).
    Returns:
      ``uint8`` array ``[h, w, 3]``, RGB.
    Raises:
      ImageLoadError: naming the file and the problem (missing, unreadable,
        empty, not an image, truncated or corrupt, too large).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageLoadError(path, "no such file")
    if os.path.isdir(path):
        raise ImageLoadError(path, "is a directory, not an image")
    try:
        size = os.path.getsize(path)
    except OSError as error:
        raise ImageLoadError(path, f"cannot read: {error.strerror or error}") from error
    if size == 0:
        raise ImageLoadError(path, "empty file (0 bytes)")
    previous_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS // 2
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ImageLoadError(
                    path, f"{width}x{height} pixels is more than the "
                    f"{MAX_IMAGE_PIXELS:,} allowed (decompression bomb?)")
            image.seek(0)
            image = ImageOps.exif_transpose(image)
            image.load()
            rgb = _to_rgb(image)
            array = np.asarray(rgb, dtype=np.uint8)
    except ImageLoadError:
        raise
    except PermissionError as error:
        raise ImageLoadError(path, "permission denied") from error
    except UnidentifiedImageError as error:
        raise ImageLoadError(path, "not an image Pillow can identify") from error
    except Image.DecompressionBombError as error:
        raise ImageLoadError(path, f"too many pixels (decompression bomb): {error}") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageLoadError(path, f"corrupt or truncated image: {error}") from error
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit
    if array.ndim != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageLoadError(path, f"decoded to an unusable shape {array.shape}")
    return array


def to_float(image: np.ndarray) -> np.ndarray:
    """``uint8 [..., 3]`` in [0, 255] -> ``float32`` in [0, 1]."""
    return np.asarray(image, np.float32) / 255.0


def resize_with_pad(image: np.ndarray, frame_hw=(480, 640)) -> tuple[np.ndarray, FrameTransform]:
    """Fits an RGB image into the model frame, as ``tf.image.resize_with_pad``.

    Bicubic, antialiased (Pillow's resampling filters widen with the
    downscaling factor, like ``antialias=True``), zero padding.

    Args:
      image: ``uint8 [h, w, 3]`` RGB (as from :func:`load_image`) or float in [0, 1].
      frame_hw: ``(H, W)`` of the model frame.
    Returns:
      ``(frame, transform)``: ``float32 [H, W, 3]`` RGB in [0, 1], and the
      :class:`FrameTransform` that maps points between the two.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    h, w = image.shape[:2]
    transform = frame_transform((h, w), frame_hw)
    rh, rw = int(transform.resized_hw[0]), int(transform.resized_hw[1])
    rh, rw = max(rh, 1), max(rw, 1)
    if (rh, rw) == (h, w):
        resized = to_float(image)
    else:
        pil = Image.fromarray(image).resize((rw, rh), Image.Resampling.BICUBIC)
        resized = np.clip(to_float(np.asarray(pil)), 0.0, 1.0)
    frame = np.zeros((int(frame_hw[0]), int(frame_hw[1]), 3), np.float32)
    top, left = int(transform.pad_y), int(transform.pad_x)
    frame[top:top + rh, left:left + rw] = resized
    return frame, transform


def parse_hw(text: str) -> tuple[int, int]:
    """``"240x320"`` -> ``(240, 320)``: a size written height x width, as in ``--input_size``."""
    try:
        height, width = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"size must be HxW, e.g. 480x640, got {text!r}") from None
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {text!r}")
    return height, width
