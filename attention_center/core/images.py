"""Image files -> RGB pixels as people see them, and fitting them into the model frame.

Every module that decodes an image or fits it into a model frame uses this
module, so there is one definition of each. Points and sizes follow
:mod:`attention_center.core.frames` (``(x, y)`` 0-based pixel centres, sizes
``(h, w)``), in pixels of the image *as displayed* (EXIF orientation applied).
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from attention_center.core.frames import MODEL_FRAME_HW, FrameTransform, frame_transform

__all__ = [
    "ImageLoadError",
    "MAX_IMAGE_PIXELS",
    "load_image",
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


def resize_with_pad(image: np.ndarray, frame_hw=MODEL_FRAME_HW) -> tuple[np.ndarray, FrameTransform]:
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


