"""Baselines for the evaluation table: image centre, dataset-mean centre, human split-half ceiling.

Each works on ground-truth index rows (dicts as written by
``python -m ground_truth build``, see :mod:`attention_center.core.ground_truth_index`); the fields
used are ``"original_hw"`` ``[h, w]``, ``"center"`` ``[x, y]``, ``"points"``
``[[x, y], ...]``, ``"observer_of_point"`` and ``"image_id"``. Centres are
``(x, y)`` in 0-based pixel-centre coordinates of the original image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attention_center.core.centers import (
    centers_from_normalized,
    image_centers,
    normalized_centers,
)
from attention_center.core.consistency import split_half_agreement

__all__ = [
    "dataset_mean_center",
    "dataset_mean_predictions",
    "image_center_predictions",
    "images_shared",
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
    """The training set's mean normalized centre placed on each record's image: ``[N, 2]``.

    Never fitted on the image it is scored on: for a record whose ``image_id`` is also among
    ``train_records`` (scoring the train split itself, or a leave-one-dataset-out row that
    scores a dataset's every split), the mean leaves out every training record of that image
    (the train split's mean of the *other* images; the image centre, ``(0.5, 0.5)``, when no
    other image is left). Records of images outside ``train_records`` get the plain mean.

    Args:
      train_records: index rows the mean is taken from (``"center"``, ``"original_hw"``,
        ``"image_id"``).
      records: index rows to place it on.
    Returns:
      ``float64 [N, 2]``: ``(x, y)`` in 0-based pixel-centre coordinates of each record's
      original image.
    Raises:
      ValueError: no training records.
    """
    normalized = np.repeat(dataset_mean_center(train_records)[None], len(records), axis=0)
    own = images_shared(train_records, records)
    if own:
        ids = [r.get("image_id") for r in train_records]
        centers = np.asarray([r["center"] for r in train_records], np.float64)
        fractions = normalized_centers(centers, _sizes(train_records))
        for i, record in enumerate(records):
            if record.get("image_id") in own:
                others = [j for j, image in enumerate(ids) if image != record["image_id"]]
                normalized[i] = fractions[others].mean(axis=0) if others else (0.5, 0.5)
    return centers_from_normalized(normalized, _sizes(records))


def images_shared(train_records: Sequence[dict], records: Sequence[dict]) -> set:
    """Image ids both among ``train_records`` and ``records`` (``None`` ids never match)."""
    train_ids = {r.get("image_id") for r in train_records} - {None}
    return train_ids & {r.get("image_id") for r in records}


def split_half_consistency(
    records: Sequence[dict], num_splits: int = 10, seed: int = 0
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
        errors[i], same[i] = split_half_agreement(
            record.get("points") or [],
            record.get("observer_of_point") or [],
            record["original_hw"],
            record.get("image_id", i),
            num_splits,
            seed,
        )
    return errors, same
