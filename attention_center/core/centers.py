"""Centres of points and of images, and how far apart two centres are.

All centres are ``[N, 2]`` arrays of ``(x, y)`` in 0-based pixel-centre
coordinates of each original image (see :mod:`attention_center.core.frames`);
image sizes are ``[N, 2]`` ``(h, w)``. Used by the ground-truth builder (the
centre of the kept points), the evaluator (errors, JPEG XL group agreement,
baselines) and the benchmarks alike.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "JXL_GROUP_SIZE",
    "centers_from_keep",
    "centers_from_normalized",
    "image_centers",
    "jxl_groups",
    "normalized_center_errors",
    "normalized_centers",
    "same_jxl_group",
    "summarize_center_errors",
]

#: Side of a JPEG XL group (the unit a progressive JPEG XL file is ordered by), pixels.
JXL_GROUP_SIZE = 256


def _points(points) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 1:
        points = points[None]
    if points.shape[-1] != 2:
        raise ValueError(f"points must be [N, 2] (x, y), got {points.shape}")
    return points


def _sizes(original_hw, n: int) -> np.ndarray:
    sizes = np.asarray(original_hw, dtype=np.float64)
    if sizes.ndim == 1:
        sizes = np.broadcast_to(sizes, (n, 2))
    if sizes.shape != (n, 2):
        raise ValueError(f"original_hw must be [N, 2] (h, w) for {n} points, got {sizes.shape}")
    return sizes


def normalized_center_errors(predicted, true, original_hw) -> np.ndarray:
    """Distance between predicted and true centres divided by the image diagonal.

    Args:
      predicted, true: ``[N, 2]`` (x, y), original pixels.
      original_hw: ``[N, 2]`` (or one ``(h, w)`` for all) original image sizes.
    Returns:
      ``float64 [N]``: ``|predicted - true| / sqrt(h^2 + w^2)`` (0 = exact).
    """
    predicted, true = _points(predicted), _points(true)
    if predicted.shape != true.shape:
        raise ValueError(f"predicted {predicted.shape} and true {true.shape} differ in shape")
    sizes = _sizes(original_hw, len(true))
    diagonal = np.hypot(sizes[:, 0], sizes[:, 1])
    return np.hypot(*(predicted - true).T) / diagonal


def jxl_groups(points, group_size: int = JXL_GROUP_SIZE) -> np.ndarray:
    """The JPEG XL group each point falls in.

    A point belongs to the pixel whose centre is nearest (``floor(x + 0.5)``),
    and pixel column ``j`` to group column ``floor(j / group_size)``.

    Args:
      points: ``[N, 2]`` (x, y), original pixels.
    Returns:
      ``int64 [N, 2]``: ``(group_x, group_y)``.
    """
    pixels = np.floor(_points(points) + 0.5)
    return np.floor_divide(pixels, group_size).astype(np.int64)


def same_jxl_group(predicted, true, group_size: int = JXL_GROUP_SIZE) -> np.ndarray:
    """Whether each predicted centre lies in the same 256x256 JPEG XL group as the true one.

    Returns:
      ``bool [N]``.
    """
    return np.all(jxl_groups(predicted, group_size) == jxl_groups(true, group_size), axis=-1)


def image_centers(original_hw) -> np.ndarray:
    """The geometric centre ``((w - 1) / 2, (h - 1) / 2)`` of each image: ``float64 [N, 2]``."""
    sizes = np.asarray(original_hw, dtype=np.float64).reshape(-1, 2)
    return np.stack([(sizes[:, 1] - 1) / 2, (sizes[:, 0] - 1) / 2], axis=-1)


def normalized_centers(centers, original_hw) -> np.ndarray:
    """Centres as fractions of the image: ``((x + 0.5) / w, (y + 0.5) / h)``, ``[N, 2]``.

    (0, 0) is the image's top-left corner and (1, 1) its bottom-right corner.
    """
    centers = _points(centers)
    sizes = _sizes(original_hw, len(centers))
    return (centers + 0.5) / sizes[:, ::-1]


def centers_from_normalized(fractions, original_hw) -> np.ndarray:
    """Inverse of :func:`normalized_centers`: fractions ``[N, 2]`` or ``[2]`` -> pixels ``[N,
    2]``."""
    sizes = np.asarray(original_hw, dtype=np.float64).reshape(-1, 2)
    fractions = np.broadcast_to(np.asarray(fractions, dtype=np.float64), (len(sizes), 2))
    return fractions * sizes[:, ::-1] - 0.5


def centers_from_keep(points: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the kept points of each image, all observers pooled.

    Args:
      points: ``float [..., O, P, 2]`` (x, y) per observer and point.
      keep: ``bool [..., O, P]``, which points count.
    Returns:
      ``(centers float64 [..., 2] (x, y), counts int [...])``; NaN where count is 0.
    """
    points = np.asarray(points, np.float64)
    keep = np.asarray(keep, bool)
    w = keep[..., None].astype(np.float64)
    total = np.sum(points * w, axis=(-3, -2))
    count = np.sum(keep, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        centers = total / count[..., None]
    return centers, count


def summarize_center_errors(errors, same_group) -> dict[str, float]:
    """Mean and median error and same-group fraction over the finite entries.

    Args:
      errors: ``[N]`` normalized errors (NaN = not available for that image).
      same_group: ``[N]`` booleans or fractions in [0, 1] (NaN likewise).
    Returns:
      ``{"mean_error", "median_error", "same_group", "num_images"}``.
    """
    errors = np.asarray(errors, dtype=np.float64)
    same_group = np.asarray(same_group, dtype=np.float64)
    valid = np.isfinite(errors) & np.isfinite(same_group)
    if not valid.any():
        nan = float("nan")
        return {"mean_error": nan, "median_error": nan, "same_group": nan, "num_images": 0}
    return {
        "mean_error": float(errors[valid].mean()),
        "median_error": float(np.median(errors[valid])),
        "same_group": float(same_group[valid].mean()),
        "num_images": int(valid.sum()),
    }
