"""The cjxl flags ``attention-center encode`` and ``compare`` add unless told otherwise.

``--progressive_dc=1``: cjxl stores the DC image (the 1:8 preview) as a progressive
modular frame, so a browser draws a blurry preview of the whole image after the first
~2 % of the file instead of nothing until ~20 %, for a file ~2 % larger; the looked-at
region becomes final slightly later (the browser benchmark in docs/progressive.md
measures both). cjxl ignores it where it cannot apply it (lossless JPEG transcoding, the
default for JPEG input), so JPEG inputs get byte-identical files.

cjxl 0.7 crashes (``JXL_CHECK``, SIGILL, exit 132) on ``--progressive_dc=1 --group_order 1
--center_x X --center_y Y`` when the image is over 2048 pixels in a dimension (its 1:8 DC
frame then has several groups and is encoded centre-first with the same centre) and the
centre lies outside that DC frame (``X >= ceil(w / 8)`` or ``Y >= ceil(h / 8)``): most
centres of web-size PNGs (cjxl's own middle, ``--group_order 1`` without a centre, and
JPEG transcoding are fine). Two ways around it: :func:`flags_cjxl_survives` leaves
``--progressive_dc`` out (centre-first without the preview: what ``compare`` and the
benchmarks do, to show the order's effect); :func:`center_cjxl_survives` leaves the centre
out (the preview with cjxl's default order: what ``encode`` does, because in the browser the
preview, drawn from 1-2% of the file, is worth more than any centre's order:
docs/BENCHMARKS.md 3b, "From Chromium": +0.145 area under the looked-at quality curve at
2-12 MP against at most +0.063 for the human centre's order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

__all__ = [
    "DEFAULT_CJXL_FLAGS",
    "center_cjxl_survives",
    "flags_cjxl_survives",
    "jpeg_transcode",
    "with_default_flags",
]

#: Added before the user's cjxl flags; a user flag of the same name replaces its default.
DEFAULT_CJXL_FLAGS: tuple[str, ...] = ("--progressive_dc=1",)


def _name(flag: str) -> str:
    return flag.split("=", 1)[0]


def with_default_flags(
    extra_flags: Sequence[str], defaults: Sequence[str] = DEFAULT_CJXL_FLAGS
) -> list[str]:
    """``defaults`` the user's flags do not set (by flag name), then the user's flags."""
    given = {_name(f) for f in extra_flags if f.startswith("-")}
    return [f for f in defaults if _name(f) not in given] + list(extra_flags)


def _flag_value(flags: Sequence[str], name: str, bare: str = "1") -> Optional[str]:
    """The last value given to cjxl flag ``name`` (``--name=V`` or ``--name V``), or ``None``.

    ``bare``: the value of the flag given without one (at the end of the flags).
    """
    value = None
    for i, flag in enumerate(flags):
        if flag == name:
            value = flags[i + 1] if i + 1 < len(flags) else bare
        elif flag.startswith(name + "="):
            value = flag.split("=", 1)[1]
    return value


def _progressive_dc_on(flags: Sequence[str]) -> bool:
    return _flag_value(flags, "--progressive_dc") not in (None, "0", "-1")


def jpeg_transcode(cjxl_input, flags: Sequence[str]) -> bool:
    """Whether cjxl transcodes ``cjxl_input`` losslessly: a JPEG, and neither
    ``--lossless_jpeg`` nor ``-j`` set to 0 (lossless transcoding is cjxl's default for JPEG)."""
    if Path(cjxl_input).suffix.lower() not in (".jpg", ".jpeg"):
        return False
    return "0" not in (_flag_value(flags, "--lossless_jpeg"), _flag_value(flags, "-j"))


def _cjxl_crashes(flags: Sequence[str], stored_hw, center) -> bool:
    """Whether cjxl 0.7 crashes on ``flags`` with this explicit centre (module docstring)."""
    h, w = (int(v) for v in stored_hw)
    if center is None or isinstance(center, str) or max(h, w) <= 2048:
        return False
    if not _progressive_dc_on(flags):
        return False
    x, y = (int(v) for v in center)
    return not (x < math.ceil(w / 8) and y < math.ceil(h / 8))


def center_cjxl_survives(flags: Sequence[str], stored_hw, center, jpeg_transcode: bool = False):
    """``center``, or ``None`` (cjxl's default order) where cjxl 0.7 would crash on it, and why.

    Args:
      flags: the cjxl flags for one image.
      stored_hw: ``(h, w)`` of the image as stored (cjxl's grid).
      center: ``(x, y)`` for ``--center_x/--center_y`` (stored pixels), ``"middle"`` or
        ``None``.
      jpeg_transcode: cjxl transcodes a JPEG losslessly (it then ignores
        ``--progressive_dc`` and does not crash).
    Returns:
      ``(center, note)``: ``note`` is ``None`` when the centre is kept.
    """
    if jpeg_transcode or not _cjxl_crashes(flags, stored_hw, center):
        return center, None
    h, w = (int(v) for v in stored_hw)
    x, y = (int(v) for v in center)
    return None, (
        f"centre-first order left out (cjxl's default order): cjxl 0.7 crashes on "
        f"--progressive_dc with a centre ({x}, {y}) outside the 1:8 preview of a {w}x{h} "
        f"image (over 2048 px), and the preview is worth more in a browser"
    )


def flags_cjxl_survives(flags: Sequence[str], stored_hw, center) -> tuple[list[str], Optional[str]]:
    """``flags`` without ``--progressive_dc`` where cjxl 0.7 would crash on it, and why.

    Args:
      flags: the cjxl flags for one image.
      stored_hw: ``(h, w)`` of the image as stored (cjxl's grid).
      center: ``(x, y)`` the ``--center_x/--center_y`` (stored pixels), or ``None``
        (no centre: nothing to avoid).
    Returns:
      ``(flags, note)``: ``note`` is ``None`` when the flags are kept as they are.
    """
    if not _cjxl_crashes(flags, stored_hw, center):
        return list(flags), None
    h, w = (int(v) for v in stored_hw)
    x, y = (int(v) for v in center)
    kept, skip = [], False
    for i, flag in enumerate(flags):
        if skip:
            skip = False
            continue
        if flag == "--progressive_dc":
            skip = i + 1 < len(flags) and not flags[i + 1].startswith("-")
            continue
        if flag.startswith("--progressive_dc="):
            continue
        kept.append(flag)
    return kept, (
        f"--progressive_dc left out: cjxl 0.7 crashes with it on a {w}x{h} image "
        f"(over 2048 px) centred at ({x}, {y}), outside its 1:8 preview"
    )
