"""Baselines for the evaluation table: image centre, dataset-mean centre, human split-half ceiling.

Each works on ground-truth index rows (dicts as written by
``python -m ground_truth build``, see :mod:`attention_center.core.ground_truth_index`); the fields
used are ``"original_hw"`` ``[h, w]``, ``"center"`` ``[x, y]``, ``"points"``
``[[x, y], ...]``, ``"observer_of_point"`` and ``"image_id"``. Centres are
``(x, y)`` in 0-based pixel-centre coordinates of the original image.
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

from attention_center.core.centers import (
    centers_from_keep,
    centers_from_normalized,
    image_centers,
    normalized_center_errors,
    normalized_centers,
    same_jxl_group,
)

__all__ = [
    "dataset_mean_center",
    "dataset_mean_predictions",
    "image_center_predictions",
    "split_half_consistency",
]


def _sizes(records: Sequence[dict]) -> np.ndarray:
    return np.asarray([r["original_hw"] for r in records], np.float64).reshape(-1, 2)


def image_center_predictions(records: Sequence[dict]) -> np.ndarray:
    """The image centre ``((w - 1) / 2, (h - 1) / 2)`` of each record: ``float64 [N, 2]``."""
    return image_centers(_sizes(records))


def dataset_mean_center(train_records: Sequence[dict]) -> np.ndarray:
    """Mean true centre as a fraction of the image over ``train_records``: ``[2]`` (u, v).

    ``u = (x + 0.5) / w``, ``v = (y + 0.5) / h`` (see
    :func:`~attention_center.core.centers.normalized_centers`).

    Raises:
      ValueError: no records.
    """
    if not train_records:
        raise ValueError("no training records to take the dataset-mean centre from")
    centers = np.asarray([r["center"] for r in train_records], np.float64)
    return normalized_centers(centers, _sizes(train_records)).mean(axis=0)


def dataset_mean_predictions(train_records: Sequence[dict], records: Sequence[dict]) -> np.ndarray:
    """The training set's mean normalized centre placed on each record's image: ``[N, 2]``."""
    return centers_from_normalized(dataset_mean_center(train_records), _sizes(records))


def _split_seed(seed: int, image_id: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and the image, independent of record order."""
    return np.random.default_rng([int(seed), zlib.crc32(str(image_id).encode("utf-8"))])


def split_half_consistency(records: Sequence[dict], num_splits: int = 10, seed: int = 0
                           ) -> tuple[np.ndarray, np.ndarray]:
    """The human ceiling: how well half the observers predict the other half's centre.

    For each record its observers (those with kept points) are split into two
    random halves ``num_splits`` times (seeded by ``seed`` and the image id);
    each half's centre is the mean of its kept points, as the ground-truth
    builder computes the full centre (:func:`attention_center.core.centers.centers_from_keep`).
    Per split: the distance between the two half-centres over the image
    diagonal, and whether both fall in the same JPEG XL group; each averaged
    over the splits.

    A half-centre rests on half the observers, so it is noisier than the
    ground-truth centre a model is scored against: this ceiling is conservative
    (people agree with the full-set centre better than it says).

    Args:
      records: index rows.
      num_splits: random splits per image.
      seed: seeds the splits.
    Returns:
      ``(errors, same_group)``: ``float64 [N]`` mean normalized error and
      ``float64 [N]`` fraction of splits in the same group; NaN for records
      with fewer than two observers.
    """
    errors = np.full(len(records), np.nan)
    same = np.full(len(records), np.nan)
    for i, record in enumerate(records):
        points = np.asarray(record.get("points") or [], np.float64).reshape(-1, 2)
        observer = np.asarray(record.get("observer_of_point") or [], np.int64)
        if len(observer) != len(points):
            raise ValueError(f"{record.get('image_id')}: {len(points)} points but "
                             f"{len(observer)} observer_of_point entries")
        observers = np.unique(observer)
        if len(observers) < 2:
            continue
        rng = _split_seed(seed, record.get("image_id", i))
        half_a = np.zeros((num_splits, len(observers)), bool)
        for s in range(num_splits):
            half_a[s, rng.permutation(len(observers))[:len(observers) // 2]] = True
        in_a = half_a[:, np.searchsorted(observers, observer)]           # [S, P]
        # centers_from_keep pools observers: points [S, 1, P, 2], keep [S, 1, P].
        stacked = np.broadcast_to(points, (num_splits, 1) + points.shape)
        center_a, _ = centers_from_keep(stacked, in_a[:, None, :])
        center_b, _ = centers_from_keep(stacked, ~in_a[:, None, :])
        hw = np.broadcast_to(np.asarray(record["original_hw"], np.float64), (num_splits, 2))
        errors[i] = normalized_center_errors(center_a, center_b, hw).mean()
        same[i] = same_jxl_group(center_a, center_b).mean()
    return errors, same
