"""Saliency-map metrics: NSS, CC, KLD, SIM and AUC-Judd, as pysaliency defines them.

These score a predicted map (here: the model's weighting map brought back to
the original image) against where people looked. Definitions follow
pysaliency 0.2.22 (the reference implementation of the MIT/Tuebingen saliency
benchmark) and are checked against values it computed in
``tests/saliency_metrics_test.py``:

* **NSS** (``pysaliency.metrics.NSS``, averaged over fixations): the map is
  z-scored (mean 0, population standard deviation 1, ``ddof=0``) and read at
  each fixated pixel; the mean of those values. A constant map scores 0.
  ("Constant" is tested as max == min, where pysaliency tests ``std == 0``:
  the standard deviation of a constant float map such as ``full(0.7)`` is
  rounding noise, which pysaliency would z-score into +-1. Otherwise identical.)
* **CC** (``pysaliency.metrics.CC``): Pearson correlation of the map and the
  fixation density map. 0 when the map is constant; NaN when the density is
  (constant tested as for NSS).
* **KLD** (``pysaliency.metrics.MIT_KLDiv``): both maps made into densities
  (shifted to be non-negative if they have negative values, divided by their
  sum; an all-zero map counts as uniform), then
  ``sum(g * log(eps + g / (s + eps)))`` with ``eps = 2.2204e-16`` (MATLAB's
  ``eps``, as in the MIT benchmark). Lower is better.
* **SIM** (``pysaliency.metrics.SIM``): ``sum(min(s, g))`` of the two densities
  made as for KLD. Unlike the MIT benchmark's MATLAB ``similarity.m``, the map
  is *not* min-max rescaled first (pysaliency does not either), so a map's
  constant offset counts against it.
* **AUC-Judd** (``SaliencyMapModel.AUC_Judd(..., jitter=False)``): ROC area of
  the map as a classifier of fixated pixels (positives: the map at each
  fixation, a pixel fixated twice counts twice) against all unfixated pixels
  (negatives), with the thresholds at the fixated values only. Ties count as
  above the threshold. Equal to the MIT benchmark's ``AUC_Judd.m`` without
  jitter whenever no two fixations share a pixel and the fixated values are
  distinct.

Maps are 2-D arrays ``[h, w]`` (any real dtype; computed in float64).
Fixations are ``[N, 2]`` points ``(x, y)`` in the project's 0-based
pixel-centre convention: a point belongs to the pixel whose centre is nearest
(``floor(x + 0.5)``), so pixel ``(j, i)`` covers ``[j - 0.5, j + 0.5)``.
(pysaliency truncates ``int(x)`` instead, its pixels spanning ``[j, j + 1)``;
both agree on integer coordinates, which the reference test uses.) Points
outside the map are ignored.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from attention_center.core.frames import FrameTransform

__all__ = [
    "MATLAB_EPS",
    "SALIENCY_METRICS",
    "auc_judd",
    "cc",
    "fixation_pixels",
    "kld",
    "map_to_original",
    "nss",
    "saliency_scores",
    "sim",
]

#: MATLAB's ``eps`` as the MIT benchmark (and ``pysaliency.metrics.MIT_KLDiv``) writes it.
MATLAB_EPS = 2.2204e-16

#: Names of the metrics :func:`saliency_scores` returns, in table order.
SALIENCY_METRICS = ("NSS", "CC", "KLD", "SIM", "AUC-Judd")


def _as_map(saliency_map) -> np.ndarray:
    array = np.asarray(saliency_map, dtype=np.float64)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"a saliency map must be 2-D [h, w] (or [h, w, 1]), got {array.shape}")
    return array


def fixation_pixels(points, map_hw) -> tuple[np.ndarray, np.ndarray]:
    """Pixel indices of fixation points inside a map.

    Args:
      points: ``[N, 2]`` (x, y), 0-based pixel-centre coordinates of the map.
      map_hw: ``(h, w)`` of the map.
    Returns:
      ``(rows, cols)``: ``int64 [M]`` each, ``M <= N`` (points outside the map
      dropped; repeated pixels kept, in the input order).
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    h, w = int(map_hw[0]), int(map_hw[1])
    cols = np.floor(points[:, 0] + 0.5)
    rows = np.floor(points[:, 1] + 0.5)
    inside = (
        np.isfinite(cols) & np.isfinite(rows) & (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    )
    return rows[inside].astype(np.int64), cols[inside].astype(np.int64)


def _as_density(saliency_map: np.ndarray) -> np.ndarray:
    """pysaliency's ``convert_saliency_map_to_density(minimum_value=0)``."""
    density = saliency_map
    if density.min() < 0:
        density = density - density.min()
    total = density.sum()
    if total:
        return density / total
    return np.full_like(density, 1.0 / density.size)


def nss(saliency_map, points) -> float:
    """Normalized scanpath saliency: mean z-scored map value over the fixations.

    Args:
      saliency_map: ``[h, w]``.
      points: ``[N, 2]`` fixations (x, y) in map pixels.
    Returns:
      The NSS (higher is better; 0 for a constant map), NaN without fixations.
    """
    saliency_map = _as_map(saliency_map)
    rows, cols = fixation_pixels(points, saliency_map.shape)
    if rows.size == 0:
        return float("nan")
    if _is_constant(saliency_map):
        return 0.0
    values = (saliency_map[rows, cols] - saliency_map.mean()) / saliency_map.std()
    return float(values.mean())


def cc(saliency_map, density_map) -> float:
    """Pearson correlation coefficient between a map and the fixation density.

    Args:
      saliency_map, density_map: ``[h, w]`` each.
    Returns:
      CC in [-1, 1] (higher is better); 0 for a constant ``saliency_map``,
      NaN for a constant ``density_map``.
    """
    s = _as_map(saliency_map)
    g = _as_map(density_map)
    _check_same_shape(s, g)
    if _is_constant(g):
        return float("nan")
    if _is_constant(s):
        return 0.0
    s = s - s.mean()
    g = g - g.mean()
    return float(np.mean((s / s.std()) * (g / g.std())))


def kld(saliency_map, density_map, eps: float = MATLAB_EPS) -> float:
    """KL divergence of the map from the fixation density, MIT benchmark style.

    ``sum(g * log(eps + g / (s + eps)))`` with ``s`` and ``g`` normalized to sum 1.

    Args:
      saliency_map: ``[h, w]`` prediction ``s``.
      density_map: ``[h, w]`` empirical density ``g`` (the reference).
      eps: regularization of the ratio and of the logarithm.
    Returns:
      KLD >= 0 (lower is better).
    """
    s = _as_map(saliency_map)
    g = _as_map(density_map)
    _check_same_shape(s, g)
    s = _as_density(s)
    g = _as_density(g)
    return float(np.sum(g * np.log(eps + g / (s + eps))))


def sim(saliency_map, density_map) -> float:
    """Similarity (histogram intersection) of the two maps made into densities.

    Args:
      saliency_map, density_map: ``[h, w]`` each.
    Returns:
      SIM in [0, 1] (1 = identical distributions).
    """
    s = _as_map(saliency_map)
    g = _as_map(density_map)
    _check_same_shape(s, g)
    return float(np.minimum(_as_density(s), _as_density(g)).sum())


def auc_judd(saliency_map, points) -> float:
    """AUC-Judd: area under the ROC curve of fixated vs unfixated pixels.

    Thresholds are the map's values at the fixations (plus one above the
    maximum and the overall minimum, closing the curve at (0, 0) and (1, 1));
    the hit rate is the fraction of fixations whose value is ``>=`` the
    threshold, the false-positive rate the fraction of unfixated pixels that
    are. No jitter is added (a constant map scores 0.5).

    Args:
      saliency_map: ``[h, w]``.
      points: ``[N, 2]`` fixations (x, y) in map pixels.
    Returns:
      AUC in [0, 1] (higher is better); NaN without fixations or without an
      unfixated pixel.
    """
    saliency_map = _as_map(saliency_map)
    rows, cols = fixation_pixels(points, saliency_map.shape)
    if rows.size == 0:
        return float("nan")
    positives = np.sort(saliency_map[rows, cols])
    fixated = np.zeros(saliency_map.shape, dtype=bool)
    fixated[rows, cols] = True
    negatives = np.sort(saliency_map[~fixated])
    if negatives.size == 0:
        return float("nan")
    thresholds = np.concatenate(
        [
            [max(positives[-1], negatives[-1]) + 1.0],
            positives[::-1],
            [min(positives[0], negatives[0])],
        ]
    )
    # Counts of values >= each threshold, from the ascending sorted arrays.
    hits = positives.size - np.searchsorted(positives, thresholds, side="left")
    false_positives = negatives.size - np.searchsorted(negatives, thresholds, side="left")
    hit_rate = np.concatenate([[0.0], hits / positives.size])
    false_positive_rate = np.concatenate([[0.0], false_positives / negatives.size])
    return float(np.sum(np.diff(false_positive_rate) * (hit_rate[1:] + hit_rate[:-1]) / 2.0))


def saliency_scores(saliency_map, points, density_map) -> dict[str, float]:
    """All five metrics for one image.

    Args:
      saliency_map: ``[h, w]`` prediction.
      points: ``[N, 2]`` fixations (x, y) in map pixels (for NSS and AUC-Judd).
      density_map: ``[h, w]`` fixation density (for CC, KLD and SIM).
    Returns:
      ``{"NSS", "CC", "KLD", "SIM", "AUC-Judd"} -> float``.
    """
    saliency_map = _as_map(saliency_map)
    density_map = _as_map(density_map)
    return {
        "NSS": nss(saliency_map, points),
        "CC": cc(saliency_map, density_map),
        "KLD": kld(saliency_map, density_map),
        "SIM": sim(saliency_map, density_map),
        "AUC-Judd": auc_judd(saliency_map, points),
    }


def map_to_original(weight_map, transform: FrameTransform) -> np.ndarray:
    """Brings a map that covers the padded model frame back onto the original image.

    The map ``[h, w]`` covers the whole ``H x W`` frame (stride ``H / h``,
    ``W / w``; its cell ``(j, i)`` is centred at frame pixel
    ``((j + 0.5) * W / w - 0.5, (i + 0.5) * H / h - 0.5)``). Each original
    pixel centre is mapped into the frame with ``transform.to_frame`` and the
    map is sampled there bilinearly (nearest edge value beyond the outermost
    cell centres). This crops the padding exactly, fractional cells included,
    and resizes the image region to the original size in one step.

    Args:
      weight_map: ``[h, w]`` or ``[h, w, 1]`` over the frame of ``transform``.
      transform: the :class:`~attention_center.core.frames.FrameTransform` the image
        was fitted into the frame with.
    Returns:
      ``float64 [h0, w0]`` over the original image (``transform.original_hw``).
    """
    weight_map = _as_map(weight_map)
    map_h, map_w = weight_map.shape
    frame_h, frame_w = (float(v) for v in transform.frame_hw)
    original_h, original_w = (int(round(float(v))) for v in transform.original_hw)
    x_frame, y_frame = transform.to_frame(
        np.arange(original_w, dtype=np.float64), np.arange(original_h, dtype=np.float64)
    )
    cols = (x_frame + 0.5) * (map_w / frame_w) - 0.5
    rows = (y_frame + 0.5) * (map_h / frame_h) - 0.5
    grid = np.meshgrid(rows, cols, indexing="ij")
    return scipy.ndimage.map_coordinates(weight_map, grid, order=1, mode="nearest")


def _is_constant(array: np.ndarray) -> bool:
    """All values equal (tested exactly: the std of a constant float map can be rounding noise)."""
    return bool(array.max() == array.min())


def _check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"the maps differ in shape: {a.shape} vs {b.shape}")
