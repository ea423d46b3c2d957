"""Image files -> RGB pixels as people see them, and fitting them into the model frame.

Every module that decodes an image or fits it into a model frame uses this
module, so there is one definition of each. Points and sizes follow
:mod:`attention_center.core.frames` (``(x, y)`` 0-based pixel centres, sizes
``(h, w)``), in pixels of the image *as displayed* (EXIF orientation applied).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import threading
from typing import Optional

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from attention_center.core.errors import PathError
from attention_center.core.frames import MODEL_FRAME_HW, FrameTransform, frame_transform
from attention_center.core.orientation import (
    EXIF_ORIENTATION_TAG,
    displayed_hw,
    stored_hw,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DecodedImage",
    "ImageLoadError",
    "decode_image",
    "decode_into_frame",
    "load_image",
    "resize_with_pad",
    "to_float",
]

#: Largest image decoded by default, in pixels (after any reduced JPEG decode): 100 MP is
#: about 300 MB of RGB and under 1.5 GB at the decoder's peak, which fits a small machine
#: with several workers. Commands take ``--max_pixels``; the API ``max_pixels=``.
DEFAULT_MAX_PIXELS = 100_000_000
#: Old name of the limit.
MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS

# Pillow's own decompression-bomb guard is a module global; raising it while our check
# (on the header, before any decode) is in force must not race between threads.
_PILLOW_LIMIT = threading.Lock()


class ImageLoadError(PathError):
    """An image file could not be turned into RGB pixels.

    Attributes:
      path: the file.
      reason: one line saying what is wrong with it.
    """


@dataclasses.dataclass(frozen=True)
class DecodedImage:
    """An image file decoded as displayed, possibly at a reduced size.

    Attributes:
      pixels: ``uint8 [h', w', 3]`` RGB, upright (EXIF applied). ``(h', w')`` is
        ``original_hw`` unless a reduced decode was asked for (JPEG only).
      original_hw: ``(h, w)`` of the full image as displayed: the frame every point
        refers to.
      notes: things the caller may want to say (e.g. ``"animated: first of 12 frames"``).
    """

    pixels: np.ndarray
    original_hw: tuple[int, int]
    notes: tuple[str, ...] = ()

    @property
    def reduced(self) -> bool:
        return tuple(self.pixels.shape[:2]) != tuple(self.original_hw)


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


def _check_file(path: str) -> None:
    """Raises :class:`ImageLoadError` for what is not a readable, non-empty file."""
    if os.path.islink(path) and not os.path.exists(path):
        try:
            os.stat(path)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise ImageLoadError(path, "symbolic link loop") from None
        raise ImageLoadError(path, "broken symbolic link (its target does not exist)")
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


#: Formats whose header gives the EXIF orientation and that ``draft`` can decode reduced.
_DRAFT_FORMATS = ("JPEG", "MPO")


def _refuse_too_many(
    path: str, size: tuple[int, int], decoded: int, max_pixels: Optional[int]
) -> None:
    """Raises :class:`ImageLoadError` when ``decoded`` pixels (of a ``(w, h)`` image) are too
    many."""
    if max_pixels is None or decoded <= max_pixels:
        return
    width, height = size
    raise ImageLoadError(
        path,
        f"{width}x{height} is {width * height:,} pixels, more than the "
        f"{max_pixels:,} allowed (raise --max_pixels / max_pixels= to decode it; "
        "a decompression bomb?)",
    )


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation of an opened image, read without decoding its pixels where the
    format allows (Pillow's PNG ``getexif`` decodes the whole image to look past IDAT)."""
    if image.format not in _DRAFT_FORMATS and image.format != "PNG":
        return image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    if image.format == "PNG" and "exif" not in image.info:
        return 1  # an eXIf chunk before IDAT is in info; one after it is not honoured
    return image.getexif().get(EXIF_ORIENTATION_TAG, 1)


def _draft_size(image: Image.Image, min_hw, orientation: int) -> Optional[tuple[int, int]]:
    """The ``(w, h)`` to ask a JPEG's ``draft`` for so the decode still covers ``min_hw``."""
    if min_hw is None or image.format not in _DRAFT_FORMATS:
        return None
    height, width = stored_hw(tuple(int(v) for v in min_hw), orientation)
    return max(1, width), max(1, height)


def decode_image(
    path: os.PathLike | str,
    *,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    min_hw: Optional[tuple[int, int]] = None,
) -> DecodedImage:
    """Decodes an image file into RGB pixels as people see it.

    EXIF orientation is applied (the array is the upright image), so centres computed on it
    refer to the displayed orientation. Grayscale, palette, RGBA/LA (composited on white),
    CMYK and 16-bit images become 8-bit RGB; an animated image gives its first frame (and
    says so in ``notes``).

    Args:
      path: an image file Pillow can read (JPEG, PNG, GIF, WebP, TIFF, ...).
      max_pixels: refuse images with more pixels (checked on the header, before decoding;
        for a reduced JPEG decode, on the reduced size). ``None``: no limit.
      min_hw: ``(h, w)`` (displayed) the caller needs at least, e.g. the part of a
        480x640 frame the image fills: a JPEG is then decoded at 1/2, 1/4 or 1/8 of its
        size when that still covers ``min_hw`` (libjpeg's DCT scaling; far less time and
        memory for large photos). ``None``: full size.
    Returns:
      a :class:`DecodedImage` (``pixels`` ``uint8 [h', w', 3]``, ``original_hw`` the full
      displayed size).
    Raises:
      ImageLoadError: naming the file and the problem (missing, broken or looping link,
        unreadable, empty, not an image, truncated or corrupt, too many pixels).
    """
    path = os.fspath(path)
    _check_file(path)
    notes = []
    try:
        with _PILLOW_LIMIT:
            previous = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # our own check below, on the header
            try:
                image = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = previous
        with image:
            width, height = image.size
            if image.format not in _DRAFT_FORMATS:  # refused on the header, before any decode
                _refuse_too_many(path, (width, height), width * height, max_pixels)
            orientation = _orientation(image)
            original_hw = displayed_hw((height, width), orientation)
            draft = _draft_size(image, min_hw, orientation)
            if draft is not None:
                image.draft("RGB", draft)
            _refuse_too_many(path, (width, height), image.size[0] * image.size[1], max_pixels)
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                notes.append(f"animated: the first of {frames} frames was used")
            image.seek(0)
            upright = ImageOps.exif_transpose(image)
            upright.load()
            array = np.asarray(_to_rgb(upright), dtype=np.uint8)
    except ImageLoadError:
        raise
    except PermissionError as error:
        raise ImageLoadError(path, "permission denied") from error
    except UnidentifiedImageError as error:
        raise ImageLoadError(path, "not an image Pillow can identify") from error
    except Image.DecompressionBombError as error:
        raise ImageLoadError(path, f"too many pixels (decompression bomb): {error}") from error
    except MemoryError as error:
        raise ImageLoadError(path, "out of memory while decoding (lower --max_pixels)") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageLoadError(path, f"corrupt or truncated image: {error}") from error
    if array.ndim != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageLoadError(path, f"decoded to an unusable shape {array.shape}")
    if draft is None:  # full size: the upright pixels are the displayed image
        original_hw = array.shape[:2]
    return DecodedImage(
        pixels=array, original_hw=tuple(int(v) for v in original_hw), notes=tuple(notes)
    )


def load_image(
    path: os.PathLike | str, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """The full-size RGB pixels of an image file as displayed: ``uint8 [h, w, 3]``.

    :func:`decode_image` at full size (see it for the conversions and errors).
    """
    return decode_image(path, max_pixels=max_pixels).pixels


def to_float(image: np.ndarray) -> np.ndarray:
    """``uint8 [..., 3]`` in [0, 255] -> ``float32`` in [0, 1]."""
    return np.asarray(image, np.float32) / 255.0


def resize_with_pad(
    image: np.ndarray, frame_hw=MODEL_FRAME_HW, original_hw: Optional[tuple[int, int]] = None
) -> tuple[np.ndarray, FrameTransform]:
    """Fits an RGB image into the model frame, as ``tf.image.resize_with_pad``.

    Bicubic, antialiased (Pillow's resampling filters widen with the
    downscaling factor, like ``antialias=True``), zero padding.

    Args:
      image: ``uint8 [h, w, 3]`` RGB (as from :func:`load_image`) or float in [0, 1].
      frame_hw: ``(H, W)`` of the model frame.
      original_hw: the full image's ``(h, w)`` when ``image`` is a reduced decode of it
        (:attr:`DecodedImage.pixels`): the geometry (hence every point) is the full
        image's, the pixels are resampled from ``image``. Default: ``image``'s size.
    Returns:
      ``(frame, transform)``: ``float32 [H, W, 3]`` RGB in [0, 1], and the
      :class:`FrameTransform` that maps points between the original image and the frame.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    h, w = image.shape[:2]
    transform = frame_transform(tuple(original_hw) if original_hw else (h, w), frame_hw)
    rh, rw = int(transform.resized_hw[0]), int(transform.resized_hw[1])
    rh, rw = max(rh, 1), max(rw, 1)
    if (rh, rw) == (h, w):
        resized = to_float(image)
    else:
        pil = Image.fromarray(image).resize((rw, rh), Image.Resampling.BICUBIC)
        resized = np.clip(to_float(np.asarray(pil)), 0.0, 1.0)
    frame = np.zeros((int(frame_hw[0]), int(frame_hw[1]), 3), np.float32)
    top, left = int(transform.pad_y), int(transform.pad_x)
    frame[top : top + rh, left : left + rw] = resized
    return frame, transform


def decode_into_frame(
    path: os.PathLike | str,
    frame_hw=MODEL_FRAME_HW,
    *,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    reduced: bool = True,
) -> tuple[np.ndarray, FrameTransform, DecodedImage]:
    """Decodes a file straight into the model frame (what prediction does per image).

    Args:
      path: the image file.
      frame_hw: ``(H, W)`` of the model frame.
      max_pixels: see :func:`decode_image`.
      reduced: decode a large JPEG at the smallest DCT scale that still covers the part of
        the frame it fills (the frame is then within JPEG rounding of a full decode's).
    Returns:
      ``(frame float32 [H, W, 3], transform, decoded)``.
    """
    min_hw = None
    if reduced:
        with _PILLOW_LIMIT:
            previous = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                _check_file(os.fspath(path))
                with Image.open(path) as probe:
                    size = probe.size
                    orientation = (
                        _orientation(probe) if probe.format in _DRAFT_FORMATS else 1
                    )  # only JPEG decodes reduced: no need to read more
            except (OSError, SyntaxError, ValueError):
                size = None  # decode_image reports it
            finally:
                Image.MAX_IMAGE_PIXELS = previous
        if size is not None:
            shown = displayed_hw((size[1], size[0]), orientation)
            min_hw = tuple(int(v) for v in frame_transform(shown, frame_hw).resized_hw)
    decoded = decode_image(path, max_pixels=max_pixels, min_hw=min_hw)
    frame, transform = resize_with_pad(decoded.pixels, frame_hw, decoded.original_hw)
    return frame, transform, decoded
