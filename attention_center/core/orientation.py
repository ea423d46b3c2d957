"""EXIF orientation: points of the image as displayed <-> the image as stored in the file.

Our images are always handled *as displayed* (:func:`attention_center.core.images.load_image`
applies the EXIF orientation, as a browser does). A few consumers address the pixels *as
stored* instead: ``cjxl`` encodes the stored pixels, keeps the orientation as a header
field, and its ``--center_x/--center_y`` refer to the stored image (libjxl issue 1846;
checked in ``tests/jxl/encode_test.py`` by decoding prefixes). This module is the one place
that maps between the two.

Orientation values (EXIF tag 0x0112, as Pillow's ``ImageOps.exif_transpose`` applies them),
with ``(H, W)`` the displayed size:

======  ==============================  ========================
value   stored -> displayed (Pillow)    displayed (x, y) -> stored
======  ==============================  ========================
1       identity                        (x, y)
2       FLIP_LEFT_RIGHT                 (W-1-x, y)
3       ROTATE_180                      (W-1-x, H-1-y)
4       FLIP_TOP_BOTTOM                 (x, H-1-y)
5       TRANSPOSE                       (y, x)
6       ROTATE_270 (90 deg clockwise)   (y, W-1-x)
7       TRANSVERSE                      (H-1-y, W-1-x)
8       ROTATE_90 (90 deg anticlockw.)  (H-1-y, x)
======  ==============================  ========================

Points are ``(x, y)`` 0-based pixel centres (:mod:`attention_center.core.frames`); the
functions work on floats and numpy arrays alike. Orientations outside 1-8 count as 1.

Which orientation an image has is :func:`orientation_of` (an opened image) or
:func:`read_orientation` (a file): the one rule, the turn the decode
(:func:`attention_center.core.images.decode_image`) applies.
"""

from __future__ import annotations

import os
import struct

from PIL import Image

__all__ = [
    "EXIF_ORIENTATION_TAG",
    "ORIENTATIONS",
    "displayed_hw",
    "displayed_to_stored",
    "orientation_of",
    "read_orientation",
    "stored_hw",
    "stored_to_displayed",
    "swaps_axes",
]

#: The EXIF tag holding the orientation.
EXIF_ORIENTATION_TAG = 0x0112
#: The eight EXIF orientations.
ORIENTATIONS = (1, 2, 3, 4, 5, 6, 7, 8)

#: The orientations ``ImageOps.exif_transpose`` looks up (a dict, hence its equality).
_APPLIED = {o: o for o in ORIENTATIONS}
#: PNG chunks of image data, skipped unread when looking past them.
_PNG_DATA_CHUNKS = (b"IDAT", b"DDAT", b"fdAT")


def _valid(orientation) -> int:
    try:
        value = int(orientation)
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def swaps_axes(orientation: int) -> bool:
    """Whether the orientation turns the image a quarter (5-8): stored ``(h, w)`` is displayed
    ``(w, h)``."""
    return _valid(orientation) >= 5


def _as_applied(value) -> int:
    """A tag value -> the orientation ``ImageOps.exif_transpose`` applies for it. Its table
    is a dict: ``6``, ``6.0`` and the rational ``6/1`` turn the image; ``"6"``, ``6.5``,
    ``9`` or a tuple do not (1)."""
    try:
        return _APPLIED.get(value, 1)
    except TypeError:  # unhashable
        return 1


def _png_info_once_loaded(image: Image.Image) -> dict:
    """``image.info`` of a PNG as it is once its first frame is decoded, found by walking the
    chunk headers past its image data (skipped unread, never decompressed).

    Pillow parses the chunks before IDAT when it opens a PNG, and the ones after the image
    data only when it decodes it (``PngImageFile.load_end``: up to IEND, or to the next
    frame's fcTL in an animated PNG). The same chunk handlers (Pillow's ``PngStream``) run
    here on the same chunks, into a copy of ``image.info``; ``image`` itself is not changed
    (its file is left where it was). A damaged tail ends the walk (the decode fails there).
    """
    from PIL import PngImagePlugin

    fp, tile = image.fp, image.tile
    info = dict(image.info)
    if fp is None or not tile:
        return info
    stream = PngImagePlugin.PngStream(fp)
    stream.im_info = info
    stream.text_memory = getattr(getattr(image, "png", None), "text_memory", 0)
    position = fp.tell()
    try:
        fp.seek(tile[0][2] - 8)  # the header of the first IDAT chunk (tile: ..., offset, ...)
        while True:
            cid, pos, length = stream.read()
            if cid == b"IEND" or (cid == b"fcTL" and getattr(image, "is_animated", False)):
                break
            if cid not in _PNG_DATA_CHUNKS:
                try:
                    stream.call(cid, pos, length)
                except UnicodeDecodeError:
                    break
                except (EOFError, AttributeError):  # a chunk Pillow skips (or knows not)
                    pass
            fp.seek(pos + length + 4)  # past the data and the CRC (unchecked, as by Pillow)
    except (OSError, SyntaxError, ValueError, struct.error):
        pass  # a damaged tail, where the decode fails: what was read so far
    finally:
        fp.seek(position)
    return info


def orientation_of(image: Image.Image) -> int:
    """The EXIF orientation (1-8) of an opened image, 1 when it has none, read from its
    metadata without decoding any pixel: the one rule for it.

    It is the turn the decode applies (:func:`~attention_center.core.images.decode_image`
    skips the turn where this says 1), that is Pillow's ``ImageOps.exif_transpose`` after
    the first frame is decoded, so a point maps between the decoded and stored pixels:

    - the Orientation tag (0x0112) of the image's EXIF: a JPEG's (or MPO's) APP1 segment, a
      WebP's EXIF chunk, an AVIF's (with its irot/imir boxes, as Pillow reads them), a
      TIFF's own first IFD (Pillow's TIFF decoder turns the pixels itself as it loads), a
      PNG's eXIf chunk (or a ``Raw profile type exif`` text chunk);
    - without that tag, the ``tiff:Orientation`` of the image's XMP packet;
    - a value that is not one of 1-8 (``9``, a string ``"6"``, ``6.5``) counts as 1: no
      turn, as in Pillow.

    A PNG's metadata chunks may come before its image data (IDAT) or after it:

    - with an eXIf chunk before IDAT, that chunk (then any XMP before IDAT) is all that
      counts, as in the decode (an eXIf after IDAT as well is not looked at);
    - without one, the chunks after the image data count as well, as Pillow reads them when
      it decodes the pixels and then applies them: an eXIf (or XMP) after IDAT is honoured.
      They are found by walking the chunk headers past the image data, skipped unread: 1 ms
      for a 24 MP PNG in Pillow's 64 KB IDAT chunks, 12 ms in libpng's 8 KB ones, where
      Pillow's own PNG ``getexif`` decodes the whole image to look (0.5 s). An animated
      PNG's walk stops at its second frame, as the decode of its first frame does.

    Args:
      image: a :class:`PIL.Image.Image` as :func:`PIL.Image.open` returns it, at its first
        frame (an image already decoded, or made in memory, gives its ``getexif``'s).
    Returns:
      1-8.
    """
    if image.format == "PNG" and "exif" not in image.info and getattr(image, "tile", None):
        try:
            info = _png_info_once_loaded(image)
        except (AttributeError, TypeError, IndexError):  # a Pillow whose PNG internals differ
            info = None  # Pillow's own getexif below: right, but it decodes the pixels
        if info is not None:
            scratch = Image.new("1", (1, 1))  # Pillow's own getexif rule, on the chunks found
            scratch.info = info
            return _as_applied(scratch.getexif().get(EXIF_ORIENTATION_TAG, 1))
    return _as_applied(image.getexif().get(EXIF_ORIENTATION_TAG, 1))


def read_orientation(path: os.PathLike | str) -> int:
    """The EXIF orientation (1-8) of an image file; 1 when it has none (or an invalid one).

    :func:`orientation_of` the opened file: exactly the orientation
    :func:`~attention_center.core.images.decode_image` applies (hence ``load_image``), so
    the result says how the decoded upright pixels relate to the stored ones. Reads the
    file's metadata only, never its pixels.

    Raises:
      OSError, PIL.UnidentifiedImageError: the file cannot be opened as an image.
    """
    with Image.open(path) as image:
        return orientation_of(image)


def stored_hw(displayed: tuple[int, int], orientation: int) -> tuple[int, int]:
    """``(h, w)`` as stored of an image whose displayed size is ``displayed``."""
    h, w = displayed
    return (w, h) if swaps_axes(orientation) else (h, w)


def displayed_hw(stored: tuple[int, int], orientation: int) -> tuple[int, int]:
    """``(h, w)`` as displayed of an image stored at ``stored`` (the same swap both ways)."""
    return stored_hw(stored, orientation)


def displayed_to_stored(x, y, displayed: tuple, orientation: int):
    """Maps a point of the displayed (upright) image to the stored image.

    Args:
      x, y: 0-based pixel centres in the displayed image (floats or arrays).
      displayed: ``(H, W)`` of the displayed image.
      orientation: EXIF orientation 1-8.
    Returns:
      ``(x, y)`` in the stored image, whose size is :func:`stored_hw`.
    """
    height, width = displayed
    right, bottom = width - 1 - x, height - 1 - y
    return {
        2: (right, y),
        3: (right, bottom),
        4: (x, bottom),
        5: (y, x),
        6: (y, right),
        7: (bottom, right),
        8: (bottom, x),
    }.get(_valid(orientation), (x, y))


def stored_to_displayed(x, y, stored: tuple, orientation: int):
    """Inverse of :func:`displayed_to_stored`: a point of the stored image -> displayed.

    Args:
      x, y: 0-based pixel centres in the stored image.
      stored: ``(h, w)`` of the stored image.
      orientation: EXIF orientation 1-8.
    Returns:
      ``(x, y)`` in the displayed image, whose size is :func:`displayed_hw`.
    """
    height, width = stored
    right, bottom = width - 1 - x, height - 1 - y
    # 2-5 are their own inverses; 6 and 8 are each other's; 7 is its own.
    return {
        2: (right, y),
        3: (right, bottom),
        4: (x, bottom),
        5: (y, x),
        6: (bottom, x),
        7: (bottom, right),
        8: (y, right),
    }.get(_valid(orientation), (x, y))
