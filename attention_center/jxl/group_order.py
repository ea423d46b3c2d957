"""The order in which libjxl 0.7 stores the 256x256 groups of a frame: the one model of it.

A JPEG XL frame is cut into groups of ``group_dim x group_dim`` pixels (256 for the VarDCT
files cjxl writes from photos and JPEGs), numbered in raster order: group ``g`` covers
columns ``[gx * 256, gx * 256 + 256)`` and rows ``[gy * 256, ...)`` with
``g = gy * columns + gx``. A progressive decoder (djxl ``--allow_partial_files``, a
browser) sharpens a group when its AC section has arrived, so the order of the sections
in the file is the order in which the image becomes final.

* Default (``cjxl`` without ``--group_order``): raster order, ``0, 1, ..., N - 1``.
* ``--group_order 1 --center_x X --center_y Y`` (libjxl ``cparams.centerfirst``; the
  reference is ``lib/jxl/enc_frame.cc`` of libjxl 0.7, the permutation built before
  ``WriteGroupOffsets``): the groups sorted by the key
  ``(max(|dx|, |dy|), angle)``, where ``(dx, dy)`` goes from the nominal centre of the
  group holding (X, Y) (``x0 + 128, y0 + 128``, even for a cropped edge group) to each
  group's nominal centre, so groups come in square rings around the first one; within
  a ring, clockwise on screen (y points down), starting from the side of the first
  group that (X, Y) lies nearest to: ``side`` 0, 1, 2, 3 for (X, Y) in the left,
  bottom, right, top quarter of its group (the quarters split by the diagonals).
  Without ``--center_x/--center_y`` the centre is ``(w // 2, h // 2)``.

The arithmetic is libjxl's, in the same double-precision operations (``atan2``,
``fmod``, ``remainder`` of the C library), so ties on the quarter boundaries fall the
same way. ``tests/jxl/group_order_test.py`` checks :func:`group_order` against the order
read from real cjxl files (:func:`attention_center.jxl.partial.group_arrivals`).

Coordinates: (x, y), x first, integer pixels of the image **as stored** (what cjxl's
``--center_x/--center_y`` take, see :func:`attention_center.jxl.encoder.encoder_center`);
sizes ``(h, w)``.
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import numpy as np

from attention_center.core.centers import JXL_GROUP_SIZE

__all__ = [
    "candidate_orders",
    "group_grid",
    "group_order",
    "group_rects",
    "group_side",
    "nearest_center_with_order",
    "ring_positions",
]


def group_grid(image_hw, group_dim: int = JXL_GROUP_SIZE) -> tuple[int, int]:
    """``(rows, columns)`` of groups of an image ``(h, w)``."""
    h, w = (int(v) for v in image_hw)
    if h < 1 or w < 1:
        raise ValueError(f"image size must be positive, got {(h, w)}")
    return -(-h // group_dim), -(-w // group_dim)


def group_rects(image_hw, group_dim: int = JXL_GROUP_SIZE) -> np.ndarray:
    """``int64 [N, 4]``: ``(top, left, bottom, right)`` of each group (raster order), clipped.

    Bottom and right are exclusive.
    """
    h, w = (int(v) for v in image_hw)
    rows, columns = group_grid(image_hw, group_dim)
    gy, gx = np.divmod(np.arange(rows * columns), columns)
    top, left = gy * group_dim, gx * group_dim
    return np.stack(
        [top, left, np.minimum(top + group_dim, h), np.minimum(left + group_dim, w)], axis=-1
    ).astype(np.int64)


def _check_center(image_hw, center) -> tuple[int, int]:
    h, w = (int(v) for v in image_hw)
    x, y = (int(v) for v in center)
    if not (0 <= x < w and 0 <= y < h):  # cjxl refuses these too
        raise ValueError(f"centre {(x, y)} outside the image {w}x{h} (w x h)")
    return x, y


def group_side(center, group_dim: int = JXL_GROUP_SIZE) -> int:
    """Which side of its group a centre lies nearest to: 0 left, 1 bottom, 2 right, 3 top.

    libjxl's ``side``: ``floor(fmod(-atan2(y - cy, x - cx) + 5 pi / 4, 2 pi) * 2 / pi)``
    with ``(cx, cy)`` the nominal centre of the group. A centre exactly on the group's
    centre gets side 2. The ring around the first group starts on this side.
    """
    x, y = (int(v) for v in center)
    cx = (x // group_dim) * group_dim + group_dim // 2
    cy = (y // group_dim) * group_dim + group_dim // 2
    direction = -math.atan2(y - cy, x - cx)
    return int(math.fmod(direction + 5 * math.pi / 4, 2 * math.pi) * 2 / math.pi)


def group_order(
    image_hw, center=None, centre_first: bool = True, group_dim: int = JXL_GROUP_SIZE
) -> np.ndarray:
    """The groups in the order cjxl 0.7 writes them.

    Args:
      image_hw: ``(h, w)`` of the image as stored.
      center: ``(x, y)`` integers, the ``--center_x/--center_y`` values; ``None``: cjxl's
        default centre ``(w // 2, h // 2)``.
      centre_first: ``True`` for ``--group_order 1``; ``False`` for the default (raster)
        order (``center`` is then ignored).
      group_dim: side of a group (256 for VarDCT).
    Returns:
      ``int64 [N]``: raster group indices, first written first.
    Raises:
      ValueError: the centre is outside the image (cjxl fails there too).
    """
    rows, columns = group_grid(image_hw, group_dim)
    count = rows * columns
    if not centre_first or count == 1:
        return np.arange(count, dtype=np.int64)
    h, w = (int(v) for v in image_hw)
    x, y = _check_center(image_hw, (w // 2, h // 2) if center is None else center)
    side = group_side((x, y), group_dim)
    # The key (max(|dx|, |dy|), angle) of every group at once: dx, dy are whole groups
    # from the first one, so both come from tables over the offsets, sliced here. The
    # angle is the same double as libjxl's (math.atan2 in the table, then the same two
    # additions and the same IEEE remainder), and np.lexsort is stable, as sorted() is.
    gx, gy = x // group_dim, y // group_dim
    rings, atan2s = _offset_tables(rows, columns, int(group_dim))
    window = np.s_[rows - 1 - gy : 2 * rows - 1 - gy, columns - 1 - gx : 2 * columns - 1 - gx]
    angle = _remainder_2pi(atan2s[window] + math.pi / 4 + side * (math.pi / 2))
    return np.lexsort((angle.ravel(), rings[window].ravel())).astype(np.int64, copy=False)


@functools.lru_cache(maxsize=32)
def _offset_tables(rows: int, columns: int, group_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """For every offset ``(a, b)`` in groups, ``|a| < columns``, ``|b| < rows``: its ring
    ``max(|a|, |b|)`` (``int64``) and ``math.atan2(b * group_dim, a * group_dim)`` (the
    C library's, as :func:`group_order`'s key always took it; ``np.arctan2`` may differ by
    an ulp), both ``[2 rows - 1, 2 columns - 1]``, read-only. Cached per grid."""
    a = np.arange(-(columns - 1), columns)
    b = np.arange(-(rows - 1), rows)
    rings = np.maximum(np.abs(a)[None, :], np.abs(b)[:, None])
    atan2s = np.array(
        [[math.atan2(bb * group_dim, aa * group_dim) for aa in a.tolist()] for bb in b.tolist()],
        dtype=np.float64,
    ).reshape(len(b), len(a))
    rings.flags.writeable = atan2s.flags.writeable = False
    return rings, atan2s


def _remainder_2pi(values: np.ndarray) -> np.ndarray:
    """``math.remainder(v, 2 pi)`` of each value, bit for bit.

    For ``|v| < 3 pi`` (every key angle: ``atan2 + pi / 4 + side * pi / 2`` lies in
    ``[-3 pi / 4, 11 pi / 4]`` for sides 0-3) the nearest multiple of ``Y = 2 * math.pi``
    is ``-Y``, ``0`` or ``Y``; ``|v| == Y / 2 == math.pi`` is a tie, which IEEE rounds to
    the even multiple 0; and ``v - Y`` (``v + Y``) is exact there (Sterbenz:
    ``Y / 2 <= |v| <= 2 Y``), as the IEEE remainder is, whose zero takes the sign of ``v``.
    Other values go through ``math.remainder`` itself.
    """
    values = np.asarray(values, np.float64)
    two_pi = 2 * math.pi
    out = np.where(
        values > math.pi, values - two_pi, np.where(values < -math.pi, values + two_pi, values)
    )
    out = np.where(out == 0, np.copysign(0.0, values), out)
    wide = ~(np.abs(values) < 3 * math.pi)
    if wide.any():
        out[wide] = [math.remainder(v, two_pi) for v in values[wide].tolist()]
    return out


def ring_positions(order: np.ndarray) -> np.ndarray:
    """Inverse permutation: ``positions[g]`` = the place (0 = first) of group ``g`` in ``order``."""
    order = np.asarray(order, dtype=np.int64)
    positions = np.empty_like(order)
    positions[order] = np.arange(len(order))
    return positions


def candidate_orders(
    image_hw, group_dim: int = JXL_GROUP_SIZE, step: Optional[int] = None, groups=None
) -> dict[tuple[int, int], tuple[int, int]]:
    """Every centre-first order, as ``{(group, side): (x, y)}``: a centre that gives it.

    The centre-first order depends only on the group holding the centre and the
    :func:`group_side` of the centre in it, so there are at most ``4 N`` orders (fewer
    distinct ones: a corner group's quarters facing the border give the same ring). For
    each (group, side) that some pixel of the image reaches, one centre ``(x, y)``
    (stored pixels) that gives it: the pixel of a ``step`` grid (default
    ``group_dim // 16``, plus the group's last row and column) in that group and quarter
    nearest to the quarter's centroid inside the image. Cached per image size and group.

    ``groups``: only the orders starting in these raster groups (default: every group;
    the work is proportional to the number of groups asked for).
    """
    h, w = (int(v) for v in image_hw)
    rows, columns = group_grid((h, w), group_dim)
    chosen = {}
    for group in range(rows * columns) if groups is None else sorted({int(g) for g in groups}):
        if not 0 <= group < rows * columns:
            raise ValueError(f"group {group} outside the {rows}x{columns} groups of {w}x{h}")
        chosen.update(_group_candidates((h, w), int(group_dim), step, group))
    return dict(sorted(chosen.items()))


@functools.lru_cache(maxsize=4096)
def _group_candidates(
    image_hw, group_dim: int, step: Optional[int], group: int
) -> tuple[tuple[tuple[int, int], tuple[int, int]], ...]:
    """:func:`candidate_orders`' work for one group, as a tuple of items (for the cache)."""
    h, w = (int(v) for v in image_hw)
    step = max(1, int(step or group_dim // 16))
    columns = group_grid(image_hw, group_dim)[1]
    gy, gx = divmod(group, columns)
    xs = np.arange(gx * group_dim, min(w, gx * group_dim + group_dim), step)
    ys = np.arange(gy * group_dim, min(h, gy * group_dim + group_dim), step)
    xs = np.unique(np.append(xs, min(w, gx * group_dim + group_dim) - 1))
    ys = np.unique(np.append(ys, min(h, gy * group_dim + group_dim) - 1))
    found: dict[tuple[int, int], list] = {}
    for y in ys:
        for x in xs:
            found.setdefault((group, group_side((x, y), group_dim)), []).append((int(x), int(y)))
    chosen = []
    for key, points in found.items():
        points = np.asarray(points, np.float64)
        middle = points.mean(axis=0)
        best = points[np.argmin(np.hypot(*(points - middle).T))]
        chosen.append((key, (int(best[0]), int(best[1]))))
    return tuple(sorted(chosen))


def nearest_center_with_order(
    image_hw, group: int, side: int, target, group_dim: int = JXL_GROUP_SIZE
) -> Optional[tuple[int, int]]:
    """The pixel giving the order ``(group, side)`` nearest to ``target``, or ``None``.

    Every pixel of a group's quarter gives the same centre-first order (the file is the
    same), so the centre handed to cjxl can be the one of that quarter nearest to a point
    of interest (e.g. the predicted centre) instead of an arbitrary representative.

    Args:
      image_hw: ``(h, w)`` stored.
      group, side: the raster group and :func:`group_side` quarter.
      target: ``(x, y)`` pixels.
    Returns:
      ``(x, y)`` integer stored pixels with ``group_side`` equal to ``side``, in ``group``.
      Of pixels at exactly the same distance (they all give the same order, so the same
      file), the first in raster order: the topmost, then the leftmost.
    """
    h, w = (int(v) for v in image_hw)
    columns = group_grid((h, w), group_dim)[1]
    gy, gx = divmod(int(group), columns)
    x0, y0 = gx * group_dim, gy * group_dim
    height, width = min(h, y0 + group_dim) - y0, min(w, x0 + group_dim) - x0
    if height <= 0 or width <= 0:  # no such group
        return None
    sides = _side_table(int(group_dim))[:height, :width]
    ys, xs = np.ogrid[y0 : y0 + sides.shape[0], x0 : x0 + sides.shape[1]]
    d2 = (xs - float(target[0])) ** 2 + (ys - float(target[1])) ** 2
    d2 = np.where(sides == int(side), d2, np.inf)
    index = int(np.argmin(d2))  # the first minimum in raster order: ties are deterministic
    if not np.isfinite(d2.flat[index]):
        return None
    row, column = divmod(index, sides.shape[1])
    return x0 + column, y0 + row


@functools.lru_cache(maxsize=8)
def _side_table(group_dim: int) -> np.ndarray:
    """``int8 [group_dim, group_dim]``: :func:`group_side` of each pixel of a group, by its
    offset ``(row, column)`` from the group's top-left corner (the side depends on nothing
    else). Off the diagonals through the group's nominal centre the quarter is plain
    geometry (the nearest side: no float rounding can reach a point that is off the
    quarter boundaries by a whole pixel); on them libjxl's float arithmetic decides, so
    those pixels are :func:`group_side` itself. Cached, read-only."""
    half = group_dim // 2
    dy, dx = np.ogrid[-half : group_dim - half, -half : group_dim - half]
    sides = np.select(
        [
            (dx < 0) & (np.abs(dy) < -dx),
            (dy > 0) & (np.abs(dx) < dy),
            (dx > 0) & (np.abs(dy) < dx),
        ],
        [0, 1, 2],
        3,
    ).astype(np.int8)
    for row, column in zip(*np.nonzero(np.abs(dx) == np.abs(dy))):
        sides[row, column] = group_side((int(column), int(row)), group_dim)
    sides.flags.writeable = False
    return sides
