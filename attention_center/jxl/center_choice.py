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
    ring_positions,
)

__all__ = [
    "CenterChoice",
    "DEFAULT_SHARPNESS",
    "DEFAULT_SIGMA",
    "attention_points",
    "choose_center",
    "choose_for_prediction",
    "gaussian_points",
    "estimated_group_bytes",
    "expected_final_bytes",
    "final_bytes",
    "region_box",
    "region_group_masks",
    "score_orders",
]

#: Exponent applied to the weighting map before it is normalized (the best on the
#: validation split among 0.5-8; see docs/progressive.md).
DEFAULT_SHARPNESS = 4.0
#: Spread of the Gaussian around the predicted centre, a fraction of the image diagonal.
#: On the validation split any spread from 0.03 to 0.09 did best (and better than the
#: weighting map); 0.06 is the middle of that plateau (docs/progressive.md).
DEFAULT_SIGMA = 0.06


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
    points = np.asarray(points, np.float64).reshape(-1, 2)
    h, w = (int(v) for v in image_hw)
    rows, columns = group_grid(image_hw, group_dim)
    sh, sw = min(side, h), min(side, w)
    # region_box, vectorized (np.round rounds half to even, as round() does).
    left = np.clip(np.round(points[:, 0]) - sw // 2, 0, w - sw).astype(np.int64)
    top = np.clip(np.round(points[:, 1]) - sh // 2, 0, h - sh).astype(np.int64)
    gy, gx = np.divmod(np.arange(rows * columns), columns)
    inside_x = (gx[None, :] >= (left // group_dim)[:, None]) & (
        gx[None, :] <= ((left + sw - 1) // group_dim)[:, None]
    )
    inside_y = (gy[None, :] >= (top // group_dim)[:, None]) & (
        gy[None, :] <= ((top + sh - 1) // group_dim)[:, None]
    )
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


def expected_final_bytes(order, group_bytes, masks, weights, base: float = 0.0) -> float:
    """``sum_p weights[p] * final_bytes[p]`` (weights normalized to sum 1)."""
    weights = np.asarray(weights, np.float64)
    return float(np.dot(final_bytes(order, group_bytes, masks, base), weights / weights.sum()))


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
    center, image_hw, sigma: float = DEFAULT_SIGMA, step: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Where people may look when the model gives only a centre: a Gaussian around it.

    Args:
      center: ``(x, y)`` pixels (of the same image as ``image_hw``: stored for cjxl).
      image_hw: ``(h, w)``.
      sigma: standard deviation as a fraction of the image diagonal (default: about the
        bundled model's mean error, 0.09 of the diagonal).
      step: grid spacing, pixels.
    Returns:
      ``(points float64 [M, 2] (x, y), weights float64 [M] summing to 1)`` on a grid.
    """
    h, w = (int(v) for v in image_hw)
    ys, xs = np.meshgrid(
        np.arange(step / 2 - 0.5, h, step), np.arange(step / 2 - 0.5, w, step), indexing="ij"
    )
    points = np.stack([xs.ravel(), ys.ravel()], axis=-1)
    spread = max(float(sigma) * float(np.hypot(h, w)), 1.0)
    d2 = np.sum((points - np.asarray(center, np.float64)) ** 2, axis=-1)
    weights = np.exp(-0.5 * d2 / spread**2)
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


def score_orders(
    image_hw, masks, weights, group_bytes=None, base: float = 0.0, group_dim: int = JXL_GROUP_SIZE
) -> dict[tuple[int, int], tuple]:
    """Every centre-first order's expected bytes: ``{(group, side): (cost, (x, y))}``.

    ``masks``/``weights``: the regions people may look at and their probabilities
    (:func:`region_group_masks`, :func:`attention_points`); ``group_bytes``: ``[N]``
    (default :func:`estimated_group_bytes`).
    """
    sizes = (
        estimated_group_bytes(image_hw, group_dim)
        if group_bytes is None
        else np.asarray(group_bytes, np.float64)
    )
    # Regions touching the same groups score alike: score each distinct mask once.
    unique, inverse = np.unique(np.asarray(masks, bool), axis=0, return_inverse=True)
    mass = np.bincount(
        inverse.ravel(), weights=np.asarray(weights, np.float64), minlength=len(unique)
    )
    scores = {}
    for key, center in candidate_orders(image_hw, group_dim).items():
        order = group_order(image_hw, center, group_dim=group_dim)
        scores[key] = (expected_final_bytes(order, sizes, unique, mass, base), center)
    return scores


def choose_center(
    points,
    weights,
    image_hw,
    model_center=None,
    group_bytes=None,
    side: int = 256,
    group_dim: int = JXL_GROUP_SIZE,
) -> CenterChoice:
    """The centre whose centre-first order minimises the expected bytes until final.

    Args:
      points, weights: where people may look (stored pixels) and how likely
        (:func:`attention_points`; or the human fixations, for an oracle).
      image_hw: ``(h, w)`` of the image as stored.
      model_center: ``(x, y)`` integer stored pixels the model predicts (kept when its
        order scores best, so ties go to the model).
      group_bytes: ``[N]`` section sizes (default: by area).
      side: side of the looked-at region, pixels.
    Returns:
      a :class:`CenterChoice`.
    """
    masks = region_group_masks(points, image_hw, side, group_dim)
    scores = score_orders(image_hw, masks, weights, group_bytes, 0.0, group_dim)
    best_key = min(scores, key=lambda k: (scores[k][0], k))
    best_cost, best_center = scores[best_key]
    model_cost = None
    if model_center is not None:
        columns = group_grid(image_hw, group_dim)[1]
        mx, my = (int(v) for v in model_center)
        model_key = ((my // group_dim) * columns + mx // group_dim, group_side((mx, my), group_dim))
        model_cost = scores[model_key][0]
        if model_cost <= best_cost + 1e-12:
            return CenterChoice(
                (mx, my), model_key[0], model_key[1], model_cost, model_cost, kept_model_center=True
            )
    return CenterChoice(best_center, best_key[0], best_key[1], best_cost, model_cost)


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
    hw = stored_image_hw(prediction.original_hw, orientation)
    if model_center is None:
        model_center = encoder_center(prediction.center, prediction.original_hw, orientation)
    if distribution not in ("gaussian", "map"):
        raise ValueError(f"distribution must be 'gaussian' or 'map', got {distribution!r}")
    if (
        distribution == "map"
        and prediction.weight_map is not None
        and prediction.transform is not None
    ):
        points, weights = attention_points(
            prediction.weight_map, prediction.transform, orientation, sharpness
        )
    else:
        points, weights = gaussian_points(model_center, hw, sigma)
    return choose_center(
        points, weights, hw, model_center=model_center, group_bytes=group_bytes, side=side
    )
