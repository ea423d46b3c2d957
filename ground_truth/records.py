"""The one record type every reader produces.

A :class:`Record` holds the points of every observer of one image from one
source (an eye tracker, a lab mouse study, a crowd mouse study, ...).

Conventions (as in :mod:`attention_center.core.frames`):

* points are ``(x, y)``, **x first**, in **0-based pixel-centre** coordinates of
  the *original* image as displayed (after EXIF orientation); the image covers
  ``[-0.5, w - 0.5] x [-0.5, h - 0.5]``;
* sizes are ``(h, w)``;
* times are milliseconds from the stimulus onset.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Optional

import numpy as np

from attention_center.core.errors import PathError

__all__ = [
    "Record",
    "DropCounter",
    "RecordError",
    "MODALITIES",
    "usable_mask",
    "validate_observer",
]

#: ``"eye"``: an eye tracker's fixations; ``"mouse"``: cursor samples (SALICON-style
#: mouse tracking, BubbleView mouse movements); ``"click"``: deliberate clicks
#: (BubbleView: each click deblurs a bubble), in order, one per decision.
MODALITIES = ("eye", "mouse", "click")


class RecordError(PathError):
    """A data file cannot be read into records (missing, corrupt, wrong variable).

    The message names the file and the problem.
    """


class DropCounter(collections.Counter):
    """Counts of things a reader dropped, by reason (never dropped silently).

    Keys used by the readers: ``"points_nan"``, ``"points_outside"``,
    ``"observers_empty"``, ``"observers_malformed"`` (an observer's points are not a list
    of pairs), ``"annotations_malformed"`` (an annotation that names no image),
    ``"images_missing"``, ``"images_size_mismatch"``, ``"images_malformed"``,
    ``"images_ambiguous"`` (two image files that would share one image id),
    ``"records_empty"``.
    """


@dataclasses.dataclass
class Record:
    """All observers' points for one image from one source.

    Attributes:
      image_id: ``"<dataset>/<stem>"``, the same for an image in every source
        (``"osie/1001"``, ``"scene/001"``, ``"salicon/COCO_train2014_..."``).
      dataset: ``"osie"``, ``"scene"``, ``"salicon"``, or a user's name.
      source: e.g. ``"osie_eye"``, ``"osie_mouse_lab"``, ``"scene_eye"``.
      modality: ``"eye"``, ``"mouse"`` or ``"click"`` (:data:`MODALITIES`).
      image_path: absolute path of the original image file.
      original_hw: ``(h, w)`` of the image as displayed (EXIF applied), pixels.
      observers: one ``float64 [n_i, 2]`` array of ``(x, y)`` per observer, in
        viewing order (``n_i >= 1``; empty observers are dropped and counted): the
        usable points (finite, inside the image) of what was recorded.
      onset_ms: ``None`` or one ``float64 [n_i]`` per observer: onset of each
        point, ms after the image appeared (real onsets).
      duration_ms: ``None`` or one ``float64 [n_i]`` per observer (fixation
        durations; used to derive onsets when there are no real ones).
      observer_ids: a label per observer (subject number, worker id, ...).
      drops: what validation dropped while reading this record, by reason.
      recorded_index: ``None`` when validation dropped no point of this record; else one
        ``int64 [n_i]`` per observer: each point's 0-based position in the observer's
        sequence *as recorded* (the NaN and out-of-image points validation dropped leave
        gaps). The temporal filter counts positions in that sequence (what is "first",
        ``max_count``), so a dropped point is never replaced by the next one.
      recorded_onset_ms: ``None`` without ``recorded_index``; else one ``float64 [m_i]``
        per observer: the onset (ms after the image appeared) of every recorded point,
        dropped ones included: the real onsets, or the sum of the durations of the
        recorded points before it (a missing duration counts 0), or NaN (unknown: order
        only). ``m_i`` is the number of points recorded.
      same_picture_as: ``None``, or the absolute path of the image file that
        ``image_path`` is a rescaled copy of (the same picture at another size, e.g.
        BubbleView's rescaled ``targets_massvis30/`` charts): the build treats both files as
        one image (one id, one frame) instead of refusing two files under one id.
    """

    image_id: str
    dataset: str
    source: str
    modality: str
    image_path: str
    original_hw: tuple[int, int]
    observers: list[np.ndarray]
    onset_ms: Optional[list[np.ndarray]] = None
    duration_ms: Optional[list[np.ndarray]] = None
    observer_ids: Optional[list] = None
    drops: DropCounter = dataclasses.field(default_factory=DropCounter)
    same_picture_as: Optional[str] = None
    recorded_index: Optional[list[np.ndarray]] = None
    recorded_onset_ms: Optional[list[np.ndarray]] = None

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValueError(f"{self.image_id}: modality {self.modality!r} not in {MODALITIES}")
        h, w = self.original_hw
        self.original_hw = (int(h), int(w))
        for name in ("onset_ms", "duration_ms"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.observers):
                raise ValueError(
                    f"{self.image_id}: {name} has {len(values)} observers, "
                    f"points have {len(self.observers)}"
                )
        if self.observer_ids is None:
            self.observer_ids = list(range(len(self.observers)))
        if (self.recorded_index is None) != (self.recorded_onset_ms is None):
            raise ValueError(f"{self.image_id}: recorded_index and recorded_onset_ms go together")
        if self.recorded_index is not None:
            n = len(self.observers)
            if len(self.recorded_index) != n or len(self.recorded_onset_ms) != n:
                raise ValueError(
                    f"{self.image_id}: recorded_index / recorded_onset_ms have "
                    f"{len(self.recorded_index)} / {len(self.recorded_onset_ms)} observers, "
                    f"points have {n}"
                )
            sequences = zip(self.observers, self.recorded_index, self.recorded_onset_ms)
            for i, (points, index, onsets) in enumerate(sequences):
                index = np.asarray(index)
                if len(index) != len(points) or (
                    len(index) and (index.min() < 0 or index.max() >= len(onsets))
                ):
                    raise ValueError(
                        f"{self.image_id}: observer {i}: recorded_index does not fit its "
                        f"{len(points)} points and {len(onsets)} recorded onsets"
                    )

    @property
    def num_observers(self) -> int:
        return len(self.observers)

    @property
    def num_points(self) -> int:
        return int(sum(len(o) for o in self.observers))


def usable_mask(points: np.ndarray, hw, drops: DropCounter, *extra: Optional[np.ndarray]):
    """Which points are usable: finite (with finite ``extra`` values) and inside the image.

    The image covers ``[-0.5, w - 0.5] x [-0.5, h - 0.5]`` (0-based pixel
    centres); a point outside that extent is not usable (tolerance: none beyond
    the half pixel the extent already includes).

    Args:
      points: ``[n, 2]`` (x, y), 0-based.
      hw: ``(h, w)`` of the image.
      drops: counter to add ``points_nan`` / ``points_outside`` to (the points that are not
        usable, by reason).
      *extra: per-point arrays ``[n]`` (onsets, durations) that must be finite too;
        ``None`` passes.
    Returns:
      ``bool [n]``.
    """
    points = np.asarray(points, np.float64).reshape(-1, 2)
    finite = np.all(np.isfinite(points), axis=1)
    for e in extra:
        if e is not None:
            finite &= np.isfinite(np.asarray(e, np.float64).reshape(-1))
    h, w = hw
    with np.errstate(invalid="ignore"):
        inside = (
            (points[:, 0] >= -0.5)
            & (points[:, 0] <= w - 0.5)
            & (points[:, 1] >= -0.5)
            & (points[:, 1] <= h - 0.5)
        )
    drops["points_nan"] += int(np.sum(~finite))
    keep = finite & inside
    drops["points_outside"] += int(np.sum(finite & ~keep))
    return keep


def validate_observer(points: np.ndarray, hw, drops: DropCounter, *extra: Optional[np.ndarray]):
    """Drops NaN points and points outside the image, counting both (:func:`usable_mask`).

    Args:
      points: ``[n, 2]`` (x, y), 0-based.
      hw: ``(h, w)`` of the image.
      drops: counter to add ``points_nan`` / ``points_outside`` to.
      *extra: per-point arrays ``[n]`` (onsets, durations) filtered alike; ``None`` passes.
    Returns:
      ``(points, *extra)`` with only the valid points kept.
    """
    points = np.asarray(points, np.float64).reshape(-1, 2)
    keep = usable_mask(points, hw, drops, *extra)
    return (points[keep],) + tuple(
        None if e is None else np.asarray(e, np.float64)[keep] for e in extra
    )
