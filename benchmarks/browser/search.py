"""The shortest prefix at which something shows, and at which a region is final.

Both searches take ``render(n_bytes) -> uint8 [h, w, 3] or None`` (``None``: nothing
drawn), so the same code measures the browser (:class:`benchmarks.browser.render.Renderer`)
and djxl (:class:`attention_center.jxl.partial.PrefixDecoder`). Bisection on the byte
count to ``tolerance`` bytes, assuming the property holds from some prefix on (progressive
decoding only adds detail).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np

from attention_center.jxl.partial import psnr

__all__ = ["first_paint", "region_final"]


def _bisect(ok: Callable[[int], bool], total: int, tolerance: int) -> int:
    low, high = 0, total  # not ok at low (nothing), ok at high (everything)
    while high - low > max(1, tolerance):
        mid = (low + high) // 2
        if ok(mid):
            high = mid
        else:
            low = mid
    return high


def first_paint(
    render: Callable[[int], Optional[np.ndarray]],
    total: int,
    tolerance: int,
    painted: Callable[[np.ndarray], bool] = lambda image: True,
) -> int:
    """Bytes until anything is drawn (``painted`` says what counts)."""

    def ok(n):
        image = render(n)
        return image is not None and painted(image)

    return _bisect(ok, total, tolerance)


def region_final(
    render: Callable[[int], Optional[np.ndarray]],
    total: int,
    tolerance: int,
    final: np.ndarray,
    box,
    threshold_db: float,
) -> int:
    """Bytes until the region ``box = (top, left, bottom, right)`` is within ``threshold_db``
    of ``final`` (the render of the whole file)."""
    top, left, bottom, right = box

    def ok(n):
        image = render(n)
        if image is None or image.shape != final.shape:
            return False
        return psnr(image[top:bottom, left:right], final[top:bottom, left:right]) >= threshold_db

    return _bisect(ok, total, tolerance)
