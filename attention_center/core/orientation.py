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
"""

from __future__ import annotations

import os

from PIL import Image

__all__ = [
    "EXIF_ORIENTATION_TAG",
    "ORIENTATIONS",
    "displayed_hw",
    "displayed_to_stored",
    "read_orientation",
    "stored_hw",
    "stored_to_displayed",
    "swaps_axes",
]

#: The EXIF tag holding the orientation.
EXIF_ORIENTATION_TAG = 0x0112
#: The eight EXIF orientations.
ORIENTATIONS = (1, 2, 3, 4, 5, 6, 7, 8)


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


def read_orientation(path: os.PathLike | str) -> int:
    """The EXIF orientation (1-8) of an image file; 1 when it has none (or an invalid one).

    It is the tag :func:`PIL.ImageOps.exif_transpose` (hence ``load_image``) applies, so the
    result says exactly how the decoded upright pixels relate to the stored ones.

    Raises:
      OSError, PIL.UnidentifiedImageError: the file cannot be opened as an image.
    """
    with Image.open(path) as image:
        return _valid(image.getexif().get(EXIF_ORIENTATION_TAG, 1))


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
