"""The benchmark's images: held-out records with human centres, one per image, in a hashed order.

Uses the project's one record selection
(:func:`attention_center.core.ground_truth_index.select_records`, ``one_per_image`` with
the sources' order as the preference). Images of datasets the model was trained on count
only from the held-out split; images of other datasets (e.g. BubbleView's FiWI web
pages) were never seen in training, so every split of them counts.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from attention_center.core.centers import JXL_GROUP_SIZE
from attention_center.core.ground_truth_index import resolve_image_path, select_records

__all__ = ["hashed_order", "num_groups", "select_images"]


def num_groups(hw, group_dim: int = JXL_GROUP_SIZE) -> int:
    """Number of 256x256 groups of an image ``(h, w)``."""
    return math.ceil(hw[0] / group_dim) * math.ceil(hw[1] / group_dim)


def hashed_order(rows: list[dict]) -> list[dict]:
    """Rows sorted by sha256 of the image id (a fixed order unrelated to content)."""
    return sorted(rows, key=lambda r: hashlib.sha256(r["image_id"].encode()).hexdigest())


def select_images(
    gt_dir,
    split: str,
    sources: Sequence[str],
    max_images: int = 0,
    min_groups: int = 1,
    training_datasets: Sequence[str] = ("osie", "scene"),
    max_unseen_per_source: int = 0,
) -> tuple[list[dict], dict]:
    """One human record per image, from the preferred source.

    Args:
      gt_dir: the ground-truth build (``index.jsonl``).
      split: the held-out split (``"test"``) for images of ``training_datasets``.
      sources: sources to take the centre from, best first.
      max_images: keep the first this many in the hashed order (0: all).
      min_groups: leave out images with fewer 256x256 groups (the order cannot matter).
      training_datasets: datasets the model was trained on; other datasets count in
        every split.
      max_unseen_per_source: keep at most this many per source of datasets outside
        ``training_datasets`` (0: all), the first in hashed order.
    Returns:
      ``(rows, counts)``: rows (``image_abspath`` added) and ``{"eligible",
      "without_source", "small", "by_source": {source: eligible}}``.
    """
    sources = list(sources)
    training = set(training_datasets)
    splits = ("train", "val", "test")
    every = [
        r
        for r in select_records(gt_dir, splits)
        if r.get("split") == split or r.get("dataset") not in training
    ]
    chosen = select_records(gt_dir, splits, sources=sources, one_per_image=True)
    chosen = [r for r in chosen if r.get("split") == split or r.get("dataset") not in training]
    images_with_source = {r["image_id"] for r in chosen}
    all_images = {r["image_id"] for r in every}
    chosen = hashed_order(chosen)
    small = sum(num_groups(r["original_hw"]) < min_groups for r in chosen)
    chosen = [r for r in chosen if num_groups(r["original_hw"]) >= min_groups]
    by_source: dict[str, int] = {}
    for row in chosen:
        by_source[row["source"]] = by_source.get(row["source"], 0) + 1
    counts = {
        "eligible": len(chosen),
        "without_source": len(all_images - images_with_source),
        "small": small,
        "by_source": by_source,
    }
    if max_unseen_per_source:
        kept, seen = [], {}
        for row in chosen:
            seen[row["source"]] = seen.get(row["source"], 0) + 1
            if row.get("dataset") in training or seen[row["source"]] <= max_unseen_per_source:
                kept.append(row)
        chosen = kept
    if max_images:
        chosen = chosen[:max_images]
    for row in chosen:
        row["image_abspath"] = str(resolve_image_path(row))
    return chosen, counts
