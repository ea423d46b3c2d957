"""The cjxl flags ``attention-center encode`` and ``compare`` add unless told otherwise.

``--progressive_dc=1``: cjxl stores the DC image (the 1:8 preview) as a progressive
modular frame, so a browser draws a blurry preview of the whole image after the first
~2 % of the file instead of nothing until ~20 %, for a file ~2 % larger; the looked-at
region becomes final slightly later (the browser benchmark in docs/progressive.md
measures both). cjxl ignores it where it cannot apply it (lossless JPEG transcoding, the
default for JPEG input), so JPEG inputs get byte-identical files.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DEFAULT_CJXL_FLAGS", "with_default_flags"]

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
