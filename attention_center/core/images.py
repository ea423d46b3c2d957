"""Image files -> RGB pixels as people see them, and fitting them into the model frame.

Every module that decodes an image or fits it into a model frame uses this
module, so there is one definition of each. Points and sizes follow
:mod:`attention_center.core.frames` (``(x, y)`` 0-based pixel centres, sizes
``(h, w)``), in pixels of the image *as displayed* (EXIF orientation applied).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Optional

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from attention_center.core.errors import PathError
from attention_center.core.frames import MODEL_FRAME_HW, FrameTransform, frame_transform
from attention_center.core.orientation import (
    displayed_hw,
    orientation_of,
    stored_hw,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DecodedImage",
    "ImageLoadError",
    "decode_image",
    "decode_into_frame",
    "ignore_corrupt_exif_warnings",
    "load_image",
    "open_upright",
    "resize_with_pad",
    "rgb_pixels",
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
    """Any Pillow mode (L, LA, P, RGBA, CMYK, I;16, I, F, 1) -> 8-bit RGB; an RGB image is
    returned as it is (converting it would only copy it)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        image = Image.fromarray(array, mode="L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")  # not mutated
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image if image.mode == "RGB" else image.convert("RGB")


def rgb_pixels(image: Image.Image) -> np.ndarray:
    """A Pillow image of any mode -> ``uint8 [h, w, 3]`` RGB, the one conversion for files
    and in-memory images alike: 16-bit and 32-bit gray scaled to 8 bits (not clipped), a
    palette's transparency and any alpha composited on white, CMYK converted."""
    return np.asarray(_to_rgb(image), dtype=np.uint8)


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
    from attention_center.core.files import not_a_file_reason

    try:
        size = os.path.getsize(path)
    except OSError as error:
        raise ImageLoadError(path, f"cannot read: {error.strerror or error}") from error
    reason = not_a_file_reason(path)  # a FIFO is "empty" to stat, and opening it blocks
    if reason is not None:
        raise ImageLoadError(path, reason)
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


#: Start-of-frame markers of Huffman-coded JPEGs (baseline, extended, progressive, lossless);
#: arithmetic coding (0xC9-0xCB, 0xCD-0xCF) can pack a block into less than a bit.
_HUFFMAN_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7})


def _jpeg_frame_marker(path: str) -> Optional[int]:
    """The start-of-frame marker (``0xC0``...) of a JPEG file, read segment by segment from
    its header (never its pixels); ``None`` when none comes before the first scan."""
    import struct

    with open(path, "rb") as handle:
        if handle.read(2) != b"\xff\xd8":
            return None
        while True:
            byte = handle.read(1)
            if not byte:
                return None
            if byte != b"\xff":
                continue
            marker = handle.read(1)
            while marker == b"\xff":  # fill bytes
                marker = handle.read(1)
            if not marker or marker[0] in (0xD9, 0xDA):  # end of image, start of scan
                return None
            if marker[0] == 0x01 or 0xD0 <= marker[0] <= 0xD7:  # no length
                continue
            if marker[0] in _HUFFMAN_SOF or 0xC9 <= marker[0] <= 0xCF and marker[0] != 0xCC:
                return marker[0]
            length = handle.read(2)
            if len(length) < 2:
                return None
            handle.seek(struct.unpack(">H", length)[0] - 2, os.SEEK_CUR)


def _refuse_too_short_jpeg(path: str, image: Image.Image) -> None:
    """Raises :class:`ImageLoadError` when a JPEG file is too short for the size its header
    declares: it was cut, or its header lies (a 654-byte file saying 65500x65500 decodes,
    padded with grey, to a 1.2 GB "image" without a word from libjpeg).

    Each 8x8 block of each component costs at least one bit in a Huffman-coded scan (its DC
    code; real encoders spend two or more, ``optimize=True`` files measure 2.0), so the
    file must hold ``blocks / 8`` bytes. Checked on the header, before any decode.
    """
    layers = getattr(image, "layer", None)
    if not layers or _jpeg_frame_marker(path) not in _HUFFMAN_SOF:
        return
    width, height = image.size
    import math

    sampling = [(max(int(layer[1]), 1), max(int(layer[2]), 1)) for layer in layers]
    h_max, v_max = max(h for h, _ in sampling), max(v for _, v in sampling)
    blocks = sum(  # 8x8 blocks of each component, at its sampling
        math.ceil(math.ceil(width * h / h_max) / 8) * math.ceil(math.ceil(height * v / v_max) / 8)
        for h, v in sampling
    )
    needed, size = blocks // 8, os.path.getsize(path)
    if size < needed:
        raise ImageLoadError(
            path,
            f"corrupt or truncated image: {size:,} bytes cannot hold the {width}x{height} "
            f"pixels its header declares (a JPEG that size needs at least {needed:,} bytes)",
        )


def _draft_size(image: Image.Image, min_hw, orientation: int) -> Optional[tuple[int, int]]:
    """The ``(w, h)`` to ask a JPEG's ``draft`` for so the decode still covers ``min_hw``."""
    if min_hw is None or image.format not in _DRAFT_FORMATS:
        return None
    height, width = stored_hw(tuple(int(v) for v in min_hw), orientation)
    return max(1, width), max(1, height)


def _open_unlimited(path: str) -> Image.Image:
    """``Image.open(path)`` without Pillow's decompression-bomb guard (ours is checked on the
    header by the caller)."""
    with _PILLOW_LIMIT:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = previous


@contextlib.contextmanager
def _load_errors(path: str) -> Iterator[None]:
    """Turns what opening and decoding ``path`` raises into one :class:`ImageLoadError`."""
    try:
        yield
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


def open_upright(
    path: os.PathLike | str, *, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """The first frame of an image file, upright, in the file's own pixels.

    Unlike :func:`decode_image` (the model's input: 8-bit RGB, alpha composited on white),
    nothing is converted: the Pillow mode (alpha, palette, 16-bit grey, CMYK) and
    ``info["icc_profile"]`` are the file's. Only the EXIF orientation is applied (as
    :func:`decode_image` applies it, so points agree) and an animated image gives its
    first frame. What an encoder must be handed when it cannot read the file itself.

    Args:
      path: an image file Pillow can read.
      max_pixels: refuse images with more pixels (checked on the header). ``None``: no limit.
    Returns:
      a loaded :class:`PIL.Image.Image` (the file is closed).
    Raises:
      ImageLoadError: as :func:`decode_image`.
    """
    path = os.fspath(path)
    _check_file(path)
    with _load_errors(path):
        with _open_unlimited(path) as image:
            _refuse_too_many(path, image.size, image.size[0] * image.size[1], max_pixels)
            image.seek(0)
            icc = image.info.get("icc_profile")
            upright = ImageOps.exif_transpose(image)
            upright.load()
    if icc:
        upright.info["icc_profile"] = icc
    return upright


def ignore_corrupt_exif_warnings() -> None:
    """Keeps Pillow's ``UserWarning: Corrupt EXIF data...`` off a command's stderr.

    Pillow warns so while it reads a damaged EXIF block, then uses what it could read
    (the image decodes; a missing orientation counts as 1). The warning names no file and
    nothing a user can act on, and Python shows it once per place in Pillow, so it came
    out for some files and commands and not others. ``predict``, ``encode`` and
    ``compare`` call this; the library leaves its caller's warning filters alone.
    """
    warnings.filterwarnings("ignore", message="Corrupt EXIF data", category=UserWarning)


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
        not a regular file, unreadable, empty, not an image, truncated or corrupt (also a
        JPEG too short for the size its header declares), too many pixels).
    """
    path = os.fspath(path)
    _check_file(path)
    notes = []
    with _load_errors(path):
        image = _open_unlimited(path)
        with image:
            width, height = image.size
            if image.format not in _DRAFT_FORMATS:  # refused on the header, before any decode
                _refuse_too_many(path, (width, height), width * height, max_pixels)
            if image.format in _DRAFT_FORMATS:
                _refuse_too_short_jpeg(path, image)
            orientation = orientation_of(image)  # the header's: no pixel is decoded yet
            original_hw = displayed_hw((height, width), orientation)
            draft = _draft_size(image, min_hw, orientation)
            if draft is not None:
                image.draft("RGB", draft)
            _refuse_too_many(path, (width, height), image.size[0] * image.size[1], max_pixels)
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                notes.append(f"animated: the first of {frames} frames was used")
            image.seek(0)
            if orientation == 1:  # nothing to turn: no copy (exif_transpose makes one)
                image.load()
                upright = image
            else:  # the turn orientation_of says (a TIFF is turned by its own load)
                upright = ImageOps.exif_transpose(image)
            array = rgb_pixels(upright)  # an RGB image is not copied before the array
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


def _resized_channel(channel: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """One ``[h, w]`` channel (uint8 or float) -> ``float32 [H, W]``, bicubic, antialiased.

    Pillow's float mode ``"F"``: no rounding to 8 bits and no clipping between its two
    passes (one float copy of the channel at a time: a 100 MP image needs 400 MB more).
    """
    if channel.dtype == np.uint8:
        pil = Image.fromarray(np.ascontiguousarray(channel)).convert("F")
    else:
        pil = Image.fromarray(np.ascontiguousarray(channel, np.float32))
    return np.asarray(pil.resize((int(hw[1]), int(hw[0])), Image.Resampling.BICUBIC))


def resize_with_pad(
    image: np.ndarray, frame_hw=MODEL_FRAME_HW, original_hw: Optional[tuple[int, int]] = None
) -> tuple[np.ndarray, FrameTransform]:
    """Fits an RGB image into the model frame: ``tf.image.resize_with_pad(image / 255, H, W,
    method="bicubic", antialias=True)``, computed with Pillow.

    Each channel is resampled in float32 (Pillow mode ``"F"``: bicubic, a = -0.5, the
    kernel widened by the downscaling factor as ``antialias=True`` does, weights renormalized
    at the borders), not clipped, then zero-padded: the frame is TensorFlow's within float32
    rounding (largest difference 3.8e-5 on the 24 Kodak photos, ``docs/export.md``;
    ``tests/core/resize_parity_test.py``). Like TensorFlow's, the bicubic overshoots
    slightly outside [0, 1] at hard edges (by up to about 0.1).

    Args:
      image: ``uint8 [h, w, 3]`` RGB (as from :func:`load_image`) or float in [0, 1].
      frame_hw: ``(H, W)`` of the model frame.
      original_hw: the full image's ``(h, w)`` when ``image`` is a reduced decode of it
        (:attr:`DecodedImage.pixels`): the geometry (hence every point) is the full
        image's, the pixels are resampled from ``image``. Default: ``image``'s size.
    Returns:
      ``(frame, transform)``: ``float32 [H, W, 3]`` RGB in [0, 1] (up to the bicubic
      overshoot), and the :class:`FrameTransform` that maps points between the original
      image and the frame.
    """
    image = np.asarray(image)
    h, w = image.shape[:2]
    transform = frame_transform(tuple(original_hw) if original_hw else (h, w), frame_hw)
    rh, rw = int(transform.resized_hw[0]), int(transform.resized_hw[1])
    rh, rw = max(rh, 1), max(rw, 1)
    scale = np.float32(1.0 / 255.0) if image.dtype == np.uint8 else np.float32(1.0)
    if (rh, rw) == (h, w):
        resized = np.asarray(image, np.float32) * scale
    else:  # resampling is linear: dividing by 255 after it is dividing before, as TF does
        channels = image.reshape(h, w, -1)
        resized = np.stack(
            [_resized_channel(channels[..., c], (rh, rw)) for c in range(channels.shape[-1])],
            axis=-1,
        )
        resized *= scale
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
                        orientation_of(probe) if probe.format in _DRAFT_FORMATS else 1
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
