"""Split-half consistency: how well half of an image's observers predict the other half.

The one implementation behind the evaluator's human ceiling
(:func:`attention_center.evaluation.baselines.split_half_consistency`) and the proxy study
(:func:`ground_truth.studies.proxies.split_half`). An image's observers (those with at least
one kept point) are split at random into two halves (``n // 2`` and the rest) ``num_splits``
times, with a generator seeded by ``seed`` and the image id (:func:`split_rng`), so every
caller draws the same halves of the same image whatever the record order. Each half's centre
is the mean of its kept points, as the ground-truth builder computes the full centre
(:func:`attention_center.core.centers.centers_from_keep`).

A half-centre rests on half the observers, so it is noisier than the ground-truth centre a
model is scored against: the ceiling is conservative.

Points are ``(x, y)`` in 0-based pixel-centre coordinates of the original image; sizes are
``(h, w)``. numpy only.
"""

from __future__ import annotations

import zlib

import numpy as np

from attention_center.core.centers import (
    centers_from_keep,
    normalized_center_errors,
    same_jxl_group,
)

__all__ = ["split_half_agreement", "split_halves", "split_rng"]


def split_rng(seed: int, image_id) -> np.random.Generator:
    """The generator of an image's splits, seeded by ``seed`` and the image id."""
    return np.random.default_rng([int(seed), zlib.crc32(str(image_id).encode("utf-8"))])


def split_halves(num_observers: int, image_id, num_splits: int = 10, seed: int = 0) -> np.ndarray:
    """``bool [num_splits, num_observers]``: ``True`` for the observers in half A of each split.

    Observers are numbered ``0 .. num_observers - 1`` in ascending order of their ids; half A
    holds ``num_observers // 2`` of them.
    """
    rng = split_rng(seed, image_id)
    half_a = np.zeros((num_splits, num_observers), bool)
    for s in range(num_splits):
        half_a[s, rng.permutation(num_observers)[: num_observers // 2]] = True
    return half_a


def split_half_agreement(
    points, observer_of_point, original_hw, image_id, num_splits: int = 10, seed: int = 0
) -> tuple[float, float]:
    """One image's split-half ``(error, same_group)``, each averaged over the splits.

    Args:
      points: ``float [P, 2]`` the kept points, ``(x, y)`` original-image pixels.
      observer_of_point: ``int [P]`` the observer id of each point (any integers).
      original_hw: ``(h, w)`` of the original image.
      image_id: seeds the splits with ``seed`` (:func:`split_rng`).
      num_splits: random splits.
      seed: seeds the splits.
    Returns:
      ``error``: mean distance between the two half-centres over the image diagonal;
      ``same_group``: fraction of splits whose two half-centres fall in the same 256x256
      JPEG XL group. Both NaN when fewer than two observers have points.
    Raises:
      ValueError: ``points`` and ``observer_of_point`` differ in length.
    """
    points = np.asarray(points, np.float64).reshape(-1, 2)
    observer = np.asarray(observer_of_point, np.int64).reshape(-1)
    if len(observer) != len(points):
        raise ValueError(
            f"{image_id}: {len(points)} points but {len(observer)} observer_of_point entries"
        )
    observers = np.unique(observer)
    if len(observers) < 2:
        return float("nan"), float("nan")
    half_a = split_halves(len(observers), image_id, num_splits, seed)
    in_a = half_a[:, np.searchsorted(observers, observer)]  # [S, P]
    # centers_from_keep pools observers: points [S, 1, P, 2], keep [S, 1, P].
    stacked = np.broadcast_to(points, (num_splits, 1) + points.shape)
    center_a, _ = centers_from_keep(stacked, in_a[:, None, :])
    center_b, _ = centers_from_keep(stacked, ~in_a[:, None, :])
    hw = np.broadcast_to(np.asarray(original_hw, np.float64), (num_splits, 2))
    error = normalized_center_errors(center_a, center_b, hw).mean()
    return float(error), float(same_jxl_group(center_a, center_b).mean())
