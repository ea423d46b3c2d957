"""Choosing the point handed to ``cjxl --center_x/--center_y``: the looked-at region, final soonest.

cjxl's centre-first order depends only on the group holding the centre and on which
quarter of that group it lies in (:mod:`attention_center.jxl.group_order`): at most
``4 N`` orders for ``N`` groups. A 256x256 region straddles 2-4 groups, and the ring
around the first group starts on the side the centre is nearest to, so handing cjxl the
model's centre as it is can leave the region's second group late in the ring. Here every
order is scored by the bytes expected before the region people look at is final:

* where people look: a distribution over the region's centre: a Gaussian around the
  model's centre (:func:`gaussian_points`, the default), or the model's weighting map
  (``prediction.weight_map``, on the frame grid) taken to a power ``sharpness`` and
  normalized, its cells mapped to the image (:class:`FrameTransform`) and to the image as
  stored (EXIF, :func:`~attention_center.core.orientation.displayed_to_stored`);
* when a region is final: once every group it touches has arrived;
* what each group costs: its section's bytes if measured
  (:func:`attention_center.jxl.partial.group_arrivals`), else an estimate proportional
  to its area (:func:`estimated_group_bytes`).

The expected bytes of an order: ``sum_p weight(p) * (sum of the sizes of the groups up to
and including the last one the region around p touches)``. :func:`choose_center` returns
the centre of the best order; when the model's own centre already gives it, that centre.

Coordinates: (x, y), x first, 0-based pixel centres; sizes (h, w); "stored" = the image as
in the file (what cjxl sees), "displayed" = upright.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from attention_center.core.centers import JXL_GROUP_SIZE
from attention_center.core.frames import FrameTransform
from attention_center.core.orientation import displayed_to_stored, stored_hw
from attention_center.jxl.group_order import (
    candidate_orders,
    group_grid,
    group_order,
    group_rects,
    group_side,
    nearest_center_with_order,
    ring_positions,
)

__all__ = [
    "CENTER_STRATEGIES",
    "CenterChoice",
    "DEFAULT_SHARPNESS",
    "DEFAULT_SIGMA",
    "attention_points",
    "check_center_strategy",
    "choose_center",
    "choose_for_center",
    "cjxl_center",
    "choose_for_prediction",
    "gaussian_points",
    "estimated_group_bytes",
    "final_bytes",
    "region_box",
    "region_group_masks",
    "region_group_spans",
    "score_orders",
]

#: ``center_strategy`` values (``--center_strategy``): the model's centre as it is, or the one
#: chosen for the group order (:func:`cjxl_center`).
CENTER_STRATEGIES = ("model", "chosen")

#: Exponent applied to the weighting map before it is normalized (the best on the
#: validation split among 0.5-8; see docs/progressive.md).
DEFAULT_SHARPNESS = 4.0
#: Spread of the Gaussian around the predicted centre, a fraction of the image diagonal.
#: On the validation split any spread from 0.03 to 0.09 did best (and better than the
#: weighting map); 0.06 is the middle of that plateau (docs/progressive.md).
DEFAULT_SIGMA = 0.06
#: The Gaussian is truncated at this many standard deviations (mass left out: < 0.1 %).
GAUSSIAN_REACH = 4.0
#: :func:`choose_center` tries the orders whose first group is within this many groups
#: (Chebyshev) of the model's centre's group: a constant number of orders, so the cost is
#: linear in the number of groups (each order is a sort of the groups).
CHOICE_REACH = 2


def region_box(center, image_hw, side: int) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` of the ``side x side`` square around (x, y), kept inside.

    The square is centred on the nearest pixel and shifted to lie inside the image
    (smaller when the image is); bottom and right are exclusive. The benchmarks' region.
    """
    h, w = (int(v) for v in image_hw)
    sh, sw = min(side, h), min(side, w)
    left = int(np.clip(round(float(center[0])) - sw // 2, 0, w - sw))
    top = int(np.clip(round(float(center[1])) - sh // 2, 0, h - sh))
    return top, left, top + sh, left + sw


def region_group_masks(
    points, image_hw, side: int = 256, group_dim: int = JXL_GROUP_SIZE
) -> np.ndarray:
    """Which groups the region around each point touches.

    Args:
      points: ``[M, 2]`` (x, y) pixels of the image (as stored when the groups are).
      image_hw: ``(h, w)``.
      side: side of the square region, pixels.
    Returns:
      ``bool [M, N]`` over the raster groups.
    """
    spans = region_group_spans(points, image_hw, side, group_dim)
    rows, columns = group_grid(image_hw, group_dim)
    gy, gx = np.divmod(np.arange(rows * columns), columns)
    inside_x = (gx[None, :] >= spans[:, 0:1]) & (gx[None, :] <= spans[:, 1:2])
    inside_y = (gy[None, :] >= spans[:, 2:3]) & (gy[None, :] <= spans[:, 3:4])
    return inside_x & inside_y


def estimated_group_bytes(image_hw, group_dim: int = JXL_GROUP_SIZE) -> np.ndarray:
    """``float64 [N]``: each group's share of the file if bytes go with area (sums to 1)."""
    rects = group_rects(image_hw, group_dim).astype(np.float64)
    area = (rects[:, 2] - rects[:, 0]) * (rects[:, 3] - rects[:, 1])
    return area / area.sum()


def final_bytes(order, group_bytes, masks, base: float = 0.0) -> np.ndarray:
    """Bytes until each region is final under one group order.

    Args:
      order: ``int [N]`` groups in file order (:func:`group_order`).
      group_bytes: ``[N]`` section size of each raster group.
      masks: ``bool [M, N]`` groups each region needs (:func:`region_group_masks`).
      base: bytes before the first group (headers, DC).
    Returns:
      ``float64 [M]``.
    """
    order = np.asarray(order, np.int64)
    masks = np.asarray(masks, bool).reshape(-1, len(order))
    cumulative = np.cumsum(np.asarray(group_bytes, np.float64)[order])
    positions = ring_positions(order)
    last = np.max(np.where(masks, positions[None, :], -1), axis=1)
    return base + np.where(last >= 0, cumulative[np.maximum(last, 0)], 0.0)


def attention_points(
    weight_map: np.ndarray,
    transform: FrameTransform,
    orientation: int = 1,
    sharpness: float = DEFAULT_SHARPNESS,
) -> tuple[np.ndarray, np.ndarray]:
    """The model's weighting map as weighted points of the image as stored.

    Args:
      weight_map: ``float [h', w']`` on the frame grid (cell ``(i, j)`` covers frame
        pixels ``[j s, (j + 1) s) x [i s, (i + 1) s)``, ``s = H / h'``).
      transform: the image <-> frame geometry of the prediction.
      orientation: EXIF orientation of the file cjxl reads (1 when upright).
      sharpness: exponent applied to the map before normalizing (1: as is).
    Returns:
      ``(points float64 [M, 2] (x, y) stored pixels, weights float64 [M] summing to 1)``,
      the cells whose centres fall on the image (padding left out).
    """
    weight_map = np.asarray(weight_map, np.float64)
    if weight_map.ndim == 3:
        weight_map = weight_map[..., 0]
    fh, fw = (float(v) for v in transform.frame_hw)
    mh, mw = weight_map.shape
    ys, xs = np.meshgrid(
        (np.arange(mh) + 0.5) * fh / mh - 0.5, (np.arange(mw) + 0.5) * fw / mw - 0.5, indexing="ij"
    )
    x, y = transform.to_original(xs.ravel(), ys.ravel(), clamp=False)
    h, w = (int(v) for v in transform.original_hw)
    inside = (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
    weights = np.clip(weight_map.ravel(), 0.0, None) ** float(sharpness)
    weights, x, y = weights[inside], np.clip(x[inside], 0, w - 1), np.clip(y[inside], 0, h - 1)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    sx, sy = displayed_to_stored(x, y, (h, w), orientation)
    return np.stack([sx, sy], axis=-1), weights / weights.sum()


def gaussian_points(
    center,
    image_hw,
    sigma: float = DEFAULT_SIGMA,
    step: Optional[int] = None,
    reach: float = GAUSSIAN_REACH,
    max_side_points: int = 128,
) -> tuple[np.ndarray, np.ndarray]:
    """Where people may look when the model gives only a centre: a Gaussian around it.

    The Gaussian is truncated at ``reach`` standard deviations and sampled on a grid of at
    most ``max_side_points`` points a side, so its cost does not grow with the image
    (issue 23: the full-image grid made the choice superlinear in pixels).

    Args:
      center: ``(x, y)`` pixels (of the same image as ``image_hw``: stored for cjxl).
      image_hw: ``(h, w)``.
      sigma: standard deviation as a fraction of the image diagonal (default: about the
        bundled model's mean error, 0.09 of the diagonal).
      step: grid spacing, pixels (default: 8, or coarser so that the truncated window
        has at most ``max_side_points`` points a side).
      reach: truncation, in standard deviations.
    Returns:
      ``(points float64 [M, 2] (x, y), weights float64 [M] summing to 1)`` on a grid
      inside the image, ``M <= max_side_points ** 2``.
    """
    h, w = (int(v) for v in image_hw)
    spread = max(float(sigma) * float(np.hypot(h, w)), 1.0)
    cx, cy = (float(v) for v in center)
    half = reach * spread
    if step is None:
        step = max(8, int(np.ceil(2 * half / max_side_points)))
    step = max(1, int(step))
    # The grid of the whole image (offset step / 2 - 0.5), restricted to the window.
    first = step / 2 - 0.5

    def axis(c: float, n: int) -> np.ndarray:
        lo = max(0, int(np.ceil((c - half - first) / step)))
        hi = min(int((n - 1 - first) // step), int(np.floor((c + half - first) / step)))
        if hi < lo:  # the window misses the grid: the nearest grid line
            lo = hi = int(np.clip(round((c - first) / step), 0, max(0, (n - 1 - first) // step)))
        return first + step * np.arange(lo, hi + 1, dtype=np.float64)

    ys, xs = np.meshgrid(axis(cy, h), axis(cx, w), indexing="ij")
    points = np.stack([xs.ravel(), ys.ravel()], axis=-1)
    d2 = np.sum((points - np.asarray([cx, cy])) ** 2, axis=-1)
    weights = np.exp(-0.5 * d2 / spread**2)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    return points, weights / weights.sum()


@dataclasses.dataclass
class CenterChoice:
    """The chosen ``--center_x/--center_y`` and how it scored.

    Attributes:
      center: ``(x, y)`` integer pixels of the image as stored, for cjxl.
      group, side: its group (raster index) and quarter (:func:`group_side`).
      expected: expected bytes until final under the chosen order, in the units of
        ``group_bytes`` (a fraction of the image's group bytes with the estimate).
      model_expected: the same for the order of the model's own centre (``None`` if not
        given).
      kept_model_center: whether ``center`` is the model's centre itself.
    """

    center: tuple[int, int]
    group: int
    side: int
    expected: float
    model_expected: Optional[float] = None
    kept_model_center: bool = False


def region_group_spans(
    points, image_hw, side: int = 256, group_dim: int = JXL_GROUP_SIZE
) -> np.ndarray:
    """The groups the region around each point touches, as spans of group columns and rows.

    Args:
      points: ``[M, 2]`` (x, y) pixels of the image (as stored when the groups are).
      image_hw: ``(h, w)``.
      side: side of the square region, pixels.
    Returns:
      ``int64 [M, 4]``: ``(first column, last column, first row, last row)`` (inclusive);
      the same groups as :func:`region_group_masks`, in ``O(M)`` memory.
    """
    points = np.asarray(points, np.float64).reshape(-1, 2)
    h, w = (int(v) for v in image_hw)
    sh, sw = min(side, h), min(side, w)
    # region_box, vectorized (np.round rounds half to even, as round() does).
    left = np.clip(np.round(points[:, 0]) - sw // 2, 0, w - sw).astype(np.int64)
    top = np.clip(np.round(points[:, 1]) - sh // 2, 0, h - sh).astype(np.int64)
    return np.stack(
        [
            left // group_dim,
            (left + sw - 1) // group_dim,
            top // group_dim,
            (top + sh - 1) // group_dim,
        ],
        axis=-1,
    )


def _span_costs(order, spans, sizes, image_hw, group_dim: int, base: float) -> np.ndarray:
    """``float64 [U]``: bytes until each span of groups is final under ``order``."""
    rows, columns = group_grid(image_hw, group_dim)
    positions = ring_positions(order).reshape(rows, columns)
    cumulative = np.cumsum(np.asarray(sizes, np.float64)[np.asarray(order, np.int64)])
    last = np.full(len(spans), -1, np.int64)
    width = int((spans[:, 1] - spans[:, 0]).max(initial=0)) + 1
    height = int((spans[:, 3] - spans[:, 2]).max(initial=0)) + 1
    for dy in range(height):
        for dx in range(width):
            gx = np.minimum(spans[:, 0] + dx, spans[:, 1])
            gy = np.minimum(spans[:, 2] + dy, spans[:, 3])
            last = np.maximum(last, positions[gy, gx])
    return base + cumulative[last]


def _unique_spans(spans) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(spans, axis=0, return_inverse=True)``, the inverse flat: the same rows in
    the same (lexicographic) order, through one ``int64`` key a row (its non-negative
    columns as the digits of a mixed radix, each column's maximum + 1, so the keys sort as
    the rows do; ``np.unique`` on rows sorts a structured copy, several times slower)."""
    spans = np.asarray(spans, np.int64)
    radices = [int(v) + 1 for v in spans.max(axis=0)] if spans.ndim == 2 and spans.size else []
    if not radices or spans.min() < 0 or np.prod(radices, dtype=float) >= 2.0**62:
        unique, inverse = np.unique(spans, axis=0, return_inverse=True)
        return unique, inverse.ravel()
    keys = spans[:, 0]
    for column in range(1, spans.shape[1]):
        keys = keys * radices[column] + spans[:, column]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return spans[first], inverse.ravel()


def score_orders(
    image_hw,
    spans,
    weights,
    group_bytes=None,
    base: float = 0.0,
    group_dim: int = JXL_GROUP_SIZE,
    groups=None,
) -> dict[tuple[int, int], tuple]:
    """Centre-first orders' expected bytes: ``{(group, side): (cost, (x, y))}``.

    ``spans``/``weights``: the regions people may look at (:func:`region_group_spans`,
    linear memory) and their probabilities (:func:`attention_points`; normalized here);
    ``group_bytes``: ``[N]`` (default :func:`estimated_group_bytes`); ``groups``: only the
    orders starting in these groups (default: all ``4 N``, quadratic in the number of
    groups). Regions touching the same groups are scored once.
    """
    sizes = (
        estimated_group_bytes(image_hw, group_dim)
        if group_bytes is None
        else np.asarray(group_bytes, np.float64)
    )
    weights = np.asarray(weights, np.float64)
    unique, inverse = _unique_spans(spans)
    mass = np.bincount(inverse, weights=weights, minlength=len(unique))
    mass = mass / mass.sum()
    scores = {}
    for key, center in candidate_orders(image_hw, group_dim, groups=groups).items():
        order = group_order(image_hw, center, group_dim=group_dim)
        cost = float(np.dot(_span_costs(order, unique, sizes, image_hw, group_dim, base), mass))
        scores[key] = (cost, center)
    return scores


def _nearby_groups(center, image_hw, reach: int, group_dim: int) -> list[int]:
    """Raster groups within ``reach`` groups (Chebyshev) of the group holding ``center``."""
    rows, columns = group_grid(image_hw, group_dim)
    gx, gy = int(center[0]) // group_dim, int(center[1]) // group_dim
    return [
        y * columns + x
        for y in range(max(0, gy - reach), min(rows, gy + reach + 1))
        for x in range(max(0, gx - reach), min(columns, gx + reach + 1))
    ]


def choose_center(
    points,
    weights,
    image_hw,
    model_center=None,
    group_bytes=None,
    side: int = 256,
    group_dim: int = JXL_GROUP_SIZE,
    reach: Optional[int] = CHOICE_REACH,
) -> CenterChoice:
    """The centre whose centre-first order minimises the expected bytes until final.

    Cost: ``O(M)`` for the points plus ``(2 reach + 1)^2 * 4`` orders of ``O(N log N)``
    each for ``N`` groups (linear in pixels; issue 23). Every pixel of a group's quarter
    gives the same order, so the centre returned is, among the best orders, the pixel
    nearest to ``model_center`` (the file is the same as with any other pixel of that
    quarter; the distance to the predicted centre is only the quarter's; of pixels at
    the same distance, the first in raster order: :func:`nearest_center_with_order`).

    Args:
      points, weights: where people may look (stored pixels) and how likely
        (:func:`attention_points`; or the human fixations, for an oracle).
      image_hw: ``(h, w)`` of the image as stored.
      model_center: ``(x, y)`` integer stored pixels the model predicts (kept when its
        order scores best, so ties go to the model).
      group_bytes: ``[N]`` section sizes (default: by area).
      side: side of the looked-at region, pixels.
      reach: try the orders starting within this many groups of ``model_center``'s (or of
        the weighted mean point's) group; ``None``: every order (quadratic).
    Returns:
      a :class:`CenterChoice`.
    """
    points = np.asarray(points, np.float64).reshape(-1, 2)
    weights = np.asarray(weights, np.float64)
    h, w = (int(v) for v in image_hw)
    spans = region_group_spans(points, image_hw, side, group_dim)
    groups = None
    if reach is not None:
        anchor = (
            model_center
            if model_center is not None
            else np.clip(np.average(points, axis=0, weights=weights), 0, [w - 1, h - 1])
        )
        groups = _nearby_groups(anchor, image_hw, int(reach), group_dim)
    scores = score_orders(image_hw, spans, weights, group_bytes, 0.0, group_dim, groups)
    best_cost = min(cost for cost, _ in scores.values())
    model_cost = None
    if model_center is not None:
        columns = group_grid(image_hw, group_dim)[1]
        mx, my = (int(v) for v in model_center)
        model_key = ((my // group_dim) * columns + mx // group_dim, group_side((mx, my), group_dim))
        if model_key in scores:
            model_cost = scores[model_key][0]
        else:  # a quarter the candidates' grid misses
            model_cost = score_orders(
                image_hw, spans, weights, group_bytes, 0.0, group_dim, [model_key[0]]
            ).get(model_key, (np.inf,))[0]
        if model_cost <= best_cost + 1e-12:
            return CenterChoice(
                (mx, my), model_key[0], model_key[1], model_cost, model_cost, kept_model_center=True
            )
    # Among the best orders, the pixel nearest to the model's centre (same file).
    target = model_center if model_center is not None else np.average(points, 0, weights)
    best = None
    for key in sorted(k for k in scores if scores[k][0] <= best_cost + 1e-12):
        center = nearest_center_with_order(image_hw, key[0], key[1], target, group_dim)
        center = scores[key][1] if center is None else center
        distance = float(np.hypot(center[0] - target[0], center[1] - target[1]))
        if best is None or distance < best[0]:
            best = (distance, key, center)
    _, key, center = best
    return CenterChoice(center, key[0], key[1], scores[key][0], model_cost)


def stored_image_hw(displayed_hw, orientation: int) -> tuple[int, int]:
    """``(h, w)`` of the image as stored (cjxl's grid) for a displayed size."""
    return stored_hw(tuple(int(v) for v in displayed_hw), orientation)


def choose_for_prediction(
    prediction,
    orientation: int = 1,
    model_center=None,
    distribution: str = "gaussian",
    sigma: float = DEFAULT_SIGMA,
    sharpness: float = DEFAULT_SHARPNESS,
    side: int = 256,
    group_bytes=None,
) -> Optional[CenterChoice]:
    """:func:`choose_center` for one :class:`~attention_center.inference.prediction.Prediction`.

    Where people may look: by default a Gaussian of spread ``sigma`` around the model's
    centre (:func:`gaussian_points`; it needs no weighting map, so it works with the
    bundled ``.tflite``, which outputs the centre only, and it did better than the map on
    the validation split); with ``distribution="map"`` the model's weighting map to the
    power ``sharpness`` (:func:`attention_points`), when the prediction has one.

    Args:
      prediction: with ``center`` and ``original_hw`` (displayed); ``weight_map`` and
        ``transform`` when the model gives a map.
      orientation: EXIF orientation of the file cjxl reads.
      model_center: the model's cjxl centre (stored pixels; default: from
        ``prediction.center`` by :func:`~attention_center.jxl.encoder.encoder_center`).
    Returns:
      the choice, or ``None`` when the prediction failed.
    """
    from attention_center.jxl.encoder import encoder_center

    if prediction.center is None or prediction.original_hw is None:
        return None
    if distribution not in ("gaussian", "map"):
        raise ValueError(f"distribution must be 'gaussian' or 'map', got {distribution!r}")
    if distribution != "map" or prediction.weight_map is None or prediction.transform is None:
        return choose_for_center(
            prediction.center,
            prediction.original_hw,
            orientation,
            model_center=model_center,
            sigma=sigma,
            side=side,
            group_bytes=group_bytes,
        )
    hw = stored_image_hw(prediction.original_hw, orientation)
    if model_center is None:
        model_center = encoder_center(prediction.center, prediction.original_hw, orientation)
    points, weights = attention_points(
        prediction.weight_map, prediction.transform, orientation, sharpness
    )
    return choose_center(
        points, weights, hw, model_center=model_center, group_bytes=group_bytes, side=side
    )


def choose_for_center(
    center,
    displayed_hw,
    orientation: int = 1,
    model_center=None,
    sigma: float = DEFAULT_SIGMA,
    side: int = 256,
    group_bytes=None,
) -> CenterChoice:
    """:func:`choose_center` for a predicted centre alone: people's gaze as a Gaussian of
    spread ``sigma`` (a fraction of the diagonal) around it (:func:`gaussian_points`).

    What ``--center_strategy chosen`` gives cjxl in ``attention-center encode`` and
    ``attention-center beam --encode`` (:func:`choose_for_prediction`'s default).

    Args:
      center: ``(x, y)`` float, 0-based pixel centres of the image as displayed.
      displayed_hw: ``(h, w)`` of the image as displayed.
      orientation: EXIF orientation of the file cjxl reads (1 for an upright PNG).
      model_center: the model's cjxl centre (stored pixels; default: ``center`` mapped by
        :func:`~attention_center.jxl.encoder.encoder_center`); kept when its order ties.
    Returns:
      the choice; its ``center`` is ``(x, y)`` integer pixels of the image as stored.
    """
    from attention_center.jxl.encoder import encoder_center

    hw = stored_image_hw(displayed_hw, orientation)
    if model_center is None:
        model_center = encoder_center(center, displayed_hw, orientation)
    points, weights = gaussian_points(model_center, hw, sigma)
    return choose_center(
        points, weights, hw, model_center=model_center, group_bytes=group_bytes, side=side
    )


def check_center_strategy(center_strategy: str) -> str:
    """``center_strategy`` if it is one of :data:`CENTER_STRATEGIES`.

    Raises:
      ValueError: it is not.
    """
    if center_strategy not in CENTER_STRATEGIES:
        raise ValueError(
            f"center_strategy must be one of {CENTER_STRATEGIES}, got {center_strategy!r}"
        )
    return center_strategy


def cjxl_center(
    center, displayed_hw, orientation: int = 1, center_strategy: str = "model"
) -> tuple[int, int]:
    """The ``--center_x/--center_y`` cjxl gets: ``(x, y)`` integer pixels of the image as the
    file cjxl reads stores it.

    ``"model"``: ``center`` mapped by :func:`~attention_center.jxl.encoder.encoder_center`;
    ``"chosen"``: the point of the best group order's quarter nearest to it
    (:func:`choose_for_center`). What ``attention-center encode`` and ``attention-center beam
    --encode`` both give cjxl (before
    :func:`~attention_center.jxl.defaults.center_cjxl_survives`).

    Args:
      center: ``(x, y)`` float, 0-based pixel centres of the image as displayed.
      displayed_hw: ``(h, w)`` of the image as displayed.
      orientation: EXIF orientation of the file cjxl reads (1 for an upright PNG).
      center_strategy: one of :data:`CENTER_STRATEGIES`.
    """
    from attention_center.jxl.encoder import encoder_center

    model_center = encoder_center(center, displayed_hw, orientation)
    if check_center_strategy(center_strategy) == "model":
        return model_center
    return choose_for_center(center, displayed_hw, orientation, model_center=model_center).center
