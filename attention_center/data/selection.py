"""The records a job works on, and their frames, from a portable build or a prepared TFDS dataset.

Both give the same index rows (the fields of :mod:`attention_center.core.ground_truth_index`)
through the one selection, :func:`attention_center.core.ground_truth_index.choose_records`;
a portable build's frames are files (``data / row["frame_path"]``), a TFDS dataset's are held
in memory (:class:`~attention_center.data.stored_frames.FrameStore`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Optional

import numpy as np

from attention_center.core.ground_truth_index import choose_records, select_records
from attention_center.data.tfds_input import is_tfds, read_tfds

__all__ = ["Selection", "select"]


@dataclasses.dataclass
class Selection:
    """Selected records and where their frames are.

    Attributes:
      records: index rows sorted by ``(image_id, source)``.
      frames: ``frame_path -> uint8 [480, 640, 3]`` for a TFDS dataset; ``None`` for a
        portable build (the frames are files under the build directory, and the original
        images are under each row's ``data_dir``).
    """

    records: list
    frames: Optional[Mapping[str, np.ndarray]] = None


def select(
    data, splits: str | Sequence[str], *, sources: Optional[Sequence[str]] = None, **options
) -> Selection:
    """:func:`~attention_center.core.ground_truth_index.select_records` for either form.

    Args:
      data: a portable build directory, or a ``tfds:`` spec
        (:mod:`attention_center.data.tfds_input`).
      splits, sources, options: as for ``select_records`` (``modality``,
        ``include_fallbacks``, ``max_images``, ``one_per_image``, ``require_sources``).
    Raises:
      FileNotFoundError, ValueError: no such build or dataset; a required source has no row.
    """
    if not is_tfds(data):
        return Selection(select_records(data, splits, sources=sources, **options))
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    rows, frames = read_tfds(data, splits, sources=sources)
    return Selection(choose_records(rows, splits, sources=sources, where=data, **options), frames)
