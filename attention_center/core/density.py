"""Fixation density maps: points blurred by a Gaussian of about one degree.

Default width: OSIE was shown at 800x600 with about 24 pixels per degree of
visual angle (Xu et al. 2014), so one degree is 3 % of the image's longer
side; :data:`SIGMA_FRACTION` applies that to every image (other sets' viewing
geometry is similar: Scene and SALICON images were shown full-screen at about
the same angle). Configurable: pass ``sigma_px`` explicitly.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["SIGMA_FRACTION", "sigma_for", "density_map", "fixation_counts"]

#: Gaussian sigma as a fraction of the image's longer side (one degree in OSIE: 24 / 800).
SIGMA_FRACTION = 24.0 / 800.0


def sigma_for(image_hw, fraction: float = SIGMA_FRACTION) -> float:
    """Sigma in pixels of an image of size ``image_hw`` (``(h, w)``, the content, not padding)."""
    return float(fraction * max(image_hw))


def fixation_counts(points: np.ndarray, map_hw, weights: Optional[np.ndarray] = None) -> np.ndarray:
    """Counts of points per pixel.

    Args:
      points: ``[n, 2]`` (x, y) 0-based pixel centres of the map; points
        outside the map are ignored.
      map_hw: ``(h, w)``.
      weights: ``[n]`` weight of each point (default 1 each), e.g. the mass of a cell of
        a model's weighting map.
    Returns:
      ``float32 [h, w]``.
    """
    h, w = int(map_hw[0]), int(map_hw[1])
    points = np.asarray(points, np.float64).reshape(-1, 2)
    weights = (
        np.ones(len(points)) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    )
    col = np.floor(points[:, 0] + 0.5).astype(np.int64)
    row = np.floor(points[:, 1] + 0.5).astype(np.int64)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    counts = np.zeros((h, w), np.float64)
    np.add.at(counts, (row[inside], col[inside]), weights[inside])
    return counts.astype(np.float32)


def density_map(
    points: np.ndarray,
    map_hw,
    sigma_px: float,
    normalize: Optional[str] = "sum",
    weights: Optional[np.ndarray] = None,
) -> np.ndarray:
    """A fixation density map.

    Args:
      points: ``[n, 2]`` (x, y) 0-based pixel centres in the map's pixels.
      map_hw: ``(h, w)`` of the map.
      sigma_px: Gaussian sigma in the map's pixels (see :func:`sigma_for`).
      normalize: ``"sum"`` (sums to 1: a probability map), ``"max"`` (peak 1)
        or ``None``. An empty map stays all zeros.
      weights: ``[n]`` per-point weights (see :func:`fixation_counts`).
    Returns:
      ``float32 [h, w]``.
    """
    from scipy.ndimage import gaussian_filter

    counts = fixation_counts(points, map_hw, weights).astype(np.float64)
    blurred = gaussian_filter(counts, sigma=float(sigma_px), mode="constant")
    if normalize == "sum":
        total = blurred.sum()
        blurred = blurred / total if total > 0 else blurred
    elif normalize == "max":
        peak = blurred.max()
        blurred = blurred / peak if peak > 0 else blurred
    elif normalize is not None:
        raise ValueError(f"normalize must be 'sum', 'max' or None, not {normalize!r}")
    return blurred.astype(np.float32)
