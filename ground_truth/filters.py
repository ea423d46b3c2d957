"""Temporal filter, spatial filter and centre: one vectorized implementation.

Everything here works on **padded batches** so that the same numpy code runs
over one record, a batch of thousands, or inside ``tf.data`` through
``tf.numpy_function``:

* ``points``: ``float [..., O, P, 2]``, ``(x, y)`` 0-based pixels of the
  original image, ``O`` observers, ``P`` points per observer in viewing order
  (padding anywhere beyond an observer's last point);
* ``valid``: ``bool [..., O, P]``, true for every *recorded* point (positions in
  each observer's sequence as recorded);
* ``usable``: ``bool [..., O, P]``, true for the recorded points validation kept
  (finite, inside the image: :func:`ground_truth.records.usable_mask`);
* ``onset_ms``: ``float [..., O, P]``, ms from stimulus onset, NaN when unknown
  (mouse samples have only an order).

Leading dimensions ``...`` are a batch of images; observers of one image are
pooled by the spatial filter and the centre.

The pipeline is :func:`temporal_keep` (on the recorded sequence: an off-image first
sample is still the first one, an off-image fixation still takes its place among the
first ``k`` and its duration still delays later onsets) -> the validity drop
(``usable``) -> :func:`spatial_keep` -> :func:`centers_from_keep`, wrapped by
:func:`filter_and_center`. Defaults per
source are in :data:`DEFAULTS`; how they were chosen is in
``docs/ground_truth.md`` (measured with ``python -m ground_truth measure``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Optional

import numpy as np

from attention_center.core.centers import centers_from_keep
from ground_truth.records import DropCounter, usable_mask

__all__ = [
    "TemporalParams",
    "SpatialParams",
    "DEFAULTS",
    "Padded",
    "pad_records",
    "temporal_keep",
    "spatial_keep",
    "filter_and_center",
    "FilterResult",
    "params_for",
    "filter_flat",
    "pad_flat",
    "SOURCE_DEFAULTS",
]


@dataclasses.dataclass(frozen=True)
class TemporalParams:
    """Which points count as *initial*.

    Attributes:
      drop_first: drop each observer's first point: OSIE's pre-stimulus
        fixation (no onsets there), a mouse's start position.
      min_onset_ms: with real onsets, drop points that began less than this
        after the image appeared (they started before it, or were programmed
        before it: the pre-stimulus fixation). ``None``: no such rule.
      max_count: keep at most this many points per observer after the drops
        above (``None``: all).
      max_onset_ms: keep points whose onset (real, or the sum of the previous
        fixations' durations) is at most this (``None``: no limit; ignored for
        points without an onset).
    """

    drop_first: bool = True
    min_onset_ms: Optional[float] = None
    max_count: Optional[int] = 3
    max_onset_ms: Optional[float] = None

    @property
    def points_needed(self) -> Optional[int]:
        """Leading points per observer the filter can keep (``None``: no bound)."""
        if self.max_count is None or self.min_onset_ms is not None:
            return None
        return self.max_count + int(self.drop_first)


@dataclasses.dataclass(frozen=True)
class SpatialParams:
    """Robust removal of stray points, per image, all observers pooled.

    A point is kept when its distance from the coordinate-wise median of the
    image's points is at most ``multiple`` times the median of those distances.
    For a round Gaussian cloud the median distance is 1.18 sigma, so the
    default 2.5 cuts at 2.94 sigma (about 1.3 % of a clean cloud is lost).
    Translation- and scale-equivariant (no pixel constants).

    Attributes:
      multiple: the cut, in median distances (``None`` or ``inf``: keep all).
    """

    multiple: Optional[float] = 2.5


#: Defaults by kind of data; chosen by measurement (docs/ground_truth.md,
#: ``python -m ground_truth measure`` and ``python -m ground_truth proxies``).
#: ``"eye"``: fixations with durations or an order only (OSIE, FiWI): drop the
#: first (pre-stimulus) fixation, keep the first 3 that began within 1500 ms.
#: ``"eye_onsets"``: real onsets (Scene): drop fixations that began < 100 ms
#: after the image appeared (they started before it: a saccade cannot be aimed
#: at an image in < ~100 ms), same k and T.
#: ``"mouse"``: drop the cursor's start sample, keep the next 30 samples.
#: ``"click"``: BubbleView clicks: nothing to drop (there is no start sample:
#: the first click is the observer's first decision), keep the first 5 clicks
#: (about the first 3 s of clicking): of k = 1, 2, 3, 5, 10, 30, all, k = 5
#: puts the click centre nearest the eye centre (k = 3, T = 1500) on FiWI and
#: OSIE and nearest SALICON's mouse centre (``docs/proxies.md``).
DEFAULTS: dict[str, tuple[TemporalParams, SpatialParams]] = {
    "eye": (TemporalParams(drop_first=True, max_count=3, max_onset_ms=1500.0), SpatialParams()),
    "eye_onsets": (
        TemporalParams(drop_first=False, min_onset_ms=100.0, max_count=3, max_onset_ms=1500.0),
        SpatialParams(),
    ),
    "mouse": (TemporalParams(drop_first=True, max_count=30), SpatialParams()),
    "click": (TemporalParams(drop_first=False, max_count=5), SpatialParams()),
}

#: The kind (a :data:`DEFAULTS` key) of each BubbleView source, spelt out per
#: source so that "the first point" of every file is a decision on record
#: (``docs/ground_truth.md``, "BubbleView"). Every entry is its modality's
#: kind: ``ground_truth.build.tfrecords.read_tfrecords``' ``refilter`` knows only the modality.
#: ``fiwi_eye``: the first entry is the fixation the eyes rested in when the
#: page appeared (the most central, ended 541 ms median after onset): dropped,
#: as OSIE's. ``bv_osie_eye``/``bv_osie_mouse_lab``: OSIE's own data (a copy).
#: ``bv_salicon_mouse``, ``*_mouse_mm*``: cursor samples whose first one is
#: where the cursor started or entered the image (dropped). ``*_click_*``:
#: first clicks, nothing dropped.
SOURCE_DEFAULTS: dict[str, str] = {
    "fiwi_eye": "eye",
    "bv_osie_eye": "eye",
    "bv_osie_mouse_lab": "mouse",
    "bv_salicon_mouse": "mouse",
    "bv_salicon_mouse_mm30": "mouse",
    "bv_salicon_mouse_mm50": "mouse",
    "bv_osie_mouse_mm30": "mouse",
    **{f"fiwi_click_{t}x{r}": "click" for t in (10, 30) for r in (30, 50, 70)},
    "fiwi_click_dx30": "click",
    **{f"bv_salicon_click_{b}x{r}": "click" for b in (30, 50, 70) for r in (30, 50, 70)},
    "bv_osie_click_30x30": "click",
    **{f"massvis_click_exp1_40x{r}": "click" for r in (16, 24, 32)},
    **{f"massvis_click_exp2_40x{r}": "click" for r in (24, 32, 40)},
    "massvis_click_fv_40x32": "click",
    "gdi_click_30x50": "click",
}


def params_for(
    record_or_modality, has_onsets: bool = False
) -> tuple[TemporalParams, SpatialParams]:
    """The default ``(temporal, spatial)`` parameters for a record (or a modality or source).

    Args:
      record_or_modality: a :class:`~ground_truth.records.Record` (its source's
        entry in :data:`SOURCE_DEFAULTS`, else its modality and whether it has
        real onsets decide), a source name of :data:`SOURCE_DEFAULTS`, or
        ``"eye"``/``"mouse"``/``"click"``.
      has_onsets: with a modality string: whether real onsets exist.
    """
    if isinstance(record_or_modality, str):
        if record_or_modality in SOURCE_DEFAULTS:
            return DEFAULTS[SOURCE_DEFAULTS[record_or_modality]]
        modality = record_or_modality
    else:
        if record_or_modality.source in SOURCE_DEFAULTS:
            return DEFAULTS[SOURCE_DEFAULTS[record_or_modality.source]]
        modality = record_or_modality.modality
        has_onsets = record_or_modality.onset_ms is not None
    if modality == "eye" and has_onsets:
        return DEFAULTS["eye_onsets"]
    return DEFAULTS[modality]


@dataclasses.dataclass
class Padded:
    """A padded batch of records (see the module docstring for shapes).

    ``usable`` ``None`` means every recorded (``valid``) point is usable; points at
    positions that are not usable hold zeros.
    """

    points: np.ndarray  # float64 [B, O, P, 2]
    valid: np.ndarray  # bool [B, O, P]: recorded
    onset_ms: np.ndarray  # float64 [B, O, P], NaN when unknown
    original_hw: np.ndarray  # float64 [B, 2]
    usable: Optional[np.ndarray] = None  # bool [B, O, P]: kept by validation

    def usable_mask(self) -> np.ndarray:
        """``bool [B, O, P]``: recorded (``valid``) and usable points, the ones a centre
        may use."""
        return self.valid if self.usable is None else self.valid & self.usable


def observer_onsets(record, i: int, n: int) -> np.ndarray:
    """Onsets (ms) of observer ``i``'s first ``n`` points: real ones, else summed durations, else
    NaN.

    With durations only, the onset of fixation ``j`` is the sum of the
    durations of the fixations recorded before it (saccade times are unknown and
    ignored, so onsets are slightly early); a fixation that validation dropped
    still counts (:attr:`ground_truth.records.Record.recorded_onset_ms`).
    """
    if record.recorded_onset_ms is not None:
        index = np.asarray(record.recorded_index[i][:n], np.int64)
        return np.asarray(record.recorded_onset_ms[i], np.float64)[index]
    if record.onset_ms is not None and record.onset_ms[i] is not None:
        return np.asarray(record.onset_ms[i][:n], np.float64)
    if record.duration_ms is not None and record.duration_ms[i] is not None:
        d = np.asarray(record.duration_ms[i], np.float64)
        return np.concatenate([[0.0], np.cumsum(d)[:-1]])[:n]
    return np.full(n, np.nan)


def _recorded_length(record, i: int) -> int:
    """How many points observer ``i`` of ``record`` has recorded (kept or not)."""
    if record.recorded_onset_ms is not None:
        return len(record.recorded_onset_ms[i])
    return len(record.observers[i])


def pad_records(records: Sequence, max_points: Optional[int] = None) -> Padded:
    """Packs records into a :class:`Padded` batch, each observer's points at their positions
    in the sequence as recorded (:attr:`ground_truth.records.Record.recorded_index`).

    Args:
      records: :class:`ground_truth.records.Record` objects.
      max_points: keep at most this many leading *recorded* points per observer (the
        temporal filter never looks further than ``drop_first + max_count``;
        passing that bound saves memory and gives the same result).
    """
    n_obs = max([r.num_observers for r in records] + [1])
    lengths = [
        [
            _recorded_length(r, i)
            if max_points is None
            else min(_recorded_length(r, i), max_points)
            for i in range(r.num_observers)
        ]
        for r in records
    ]
    n_pts = max([max(counts, default=0) for counts in lengths] + [1])
    b = len(records)
    points = np.zeros((b, n_obs, n_pts, 2))
    valid = np.zeros((b, n_obs, n_pts), bool)
    usable = np.zeros((b, n_obs, n_pts), bool)
    onset = np.full((b, n_obs, n_pts), np.nan)
    for k, r in enumerate(records):
        for i, obs in enumerate(r.observers):
            m = lengths[k][i]
            valid[k, i, :m] = True
            if r.recorded_index is None:
                points[k, i, :m] = obs[:m]
                usable[k, i, :m] = True
                onset[k, i, :m] = observer_onsets(r, i, m)
            else:
                index = np.asarray(r.recorded_index[i], np.int64)
                inside = index < m
                points[k, i, index[inside]] = obs[inside]
                usable[k, i, index[inside]] = True
                onset[k, i, :m] = np.asarray(r.recorded_onset_ms[i], np.float64)[:m]
    hw = np.array([r.original_hw for r in records], np.float64).reshape(b, 2)
    return Padded(points=points, valid=valid, onset_ms=onset, original_hw=hw, usable=usable)


def temporal_keep(valid: np.ndarray, onset_ms: np.ndarray, params: TemporalParams) -> np.ndarray:
    """The initial points of each observer.

    Runs on the sequence as recorded: ``valid`` marks every recorded point, usable or
    not (the validity drop comes after, in :func:`filter_and_center`), so that
    ``drop_first`` drops what was recorded first and ``max_count`` counts recorded points.

    Args:
      valid: ``bool [..., O, P]``.
      onset_ms: ``float [..., O, P]`` (NaN: unknown).
      params: :class:`TemporalParams`.
    Returns:
      ``bool [..., O, P]``: kept points (a subset of ``valid``).
    """
    valid = np.asarray(valid, bool)
    onset_ms = np.asarray(onset_ms, np.float64)
    keep = valid.copy()
    if params.drop_first:
        keep &= np.cumsum(valid, axis=-1) > 1
    if params.min_onset_ms is not None:
        keep &= ~(onset_ms < params.min_onset_ms)  # NaN (unknown) is not dropped
    if params.max_count is not None:
        keep &= np.cumsum(keep, axis=-1) <= params.max_count
    if params.max_onset_ms is not None:
        keep &= ~(onset_ms > params.max_onset_ms)
    return keep


def _masked_median(values: np.ndarray, mask: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN
        return np.nanmedian(np.where(mask, values, np.nan), axis=axis)


def spatial_keep(points: np.ndarray, keep: np.ndarray, params: SpatialParams) -> np.ndarray:
    """Drops stray points, per image, all observers pooled.

    Args:
      points: ``float [..., O, P, 2]``.
      keep: ``bool [..., O, P]``, the points to consider (after the temporal filter).
      params: :class:`SpatialParams`.
    Returns:
      ``bool [..., O, P]``: the kept points (a subset of ``keep``; an image
      with any point keeps at least one).
    """
    keep = np.asarray(keep, bool)
    if params.multiple is None or not np.isfinite(params.multiple):
        return keep.copy()
    points = np.asarray(points, np.float64)
    shape = keep.shape
    flat_pts = points.reshape(shape[:-2] + (-1, 2))  # [..., N, 2]
    flat_keep = keep.reshape(shape[:-2] + (-1,))  # [..., N]
    median = _masked_median(flat_pts, flat_keep[..., None], axis=-2)  # [..., 2]
    dist = np.linalg.norm(flat_pts - median[..., None, :], axis=-1)  # [..., N]
    median_dist = _masked_median(dist, flat_keep, axis=-1)  # [...]
    with np.errstate(invalid="ignore"):
        inlier = dist <= params.multiple * median_dist[..., None]
    return (flat_keep & inlier).reshape(shape)


@dataclasses.dataclass
class FilterResult:
    """Output of :func:`filter_and_center` for a batch of ``B`` images.

    Attributes:
      centers: ``float64 [B, 2]`` (x, y) original pixels.
      temporal: ``bool [B, O, P]`` usable points kept by the temporal filter.
      spatial: ``bool [B, O, P]`` points kept by both filters (used for the centre).
      fallback: ``B`` entries, ``None`` or the reason the centre is a fallback.
    """

    centers: np.ndarray
    temporal: np.ndarray
    spatial: np.ndarray
    fallback: list


def filter_and_center(
    padded: Padded, temporal: TemporalParams, spatial: SpatialParams
) -> FilterResult:
    """Temporal filter (on the recorded sequence), validity drop, spatial filter, centre, with
    recorded fallbacks.

    Fallbacks (counted by the builder, never silent):

    * ``"temporal filter kept no point; centre of all points"``: every usable point
      was dropped by the temporal filter (e.g. every observer has only the
      pre-stimulus fixation): the spatial filter and mean run on all usable points;
    * ``"no points; image centre"``: the record has no usable point at all.
    """
    usable = padded.usable_mask()
    t_keep = temporal_keep(padded.valid, padded.onset_ms, temporal) & usable
    s_keep = spatial_keep(padded.points, t_keep, spatial)
    centers, counts = centers_from_keep(padded.points, s_keep)
    fallback: list = [None] * len(counts)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        all_keep = spatial_keep(padded.points[empty], usable[empty], spatial)
        c2, n2 = centers_from_keep(padded.points[empty], all_keep)
        for j, b in enumerate(empty):
            s_keep[b] = all_keep[j]
            if n2[j] > 0:
                centers[b] = c2[j]
                fallback[b] = "temporal filter kept no point; centre of all points"
            else:
                h, w = padded.original_hw[b]
                centers[b] = ((w - 1) / 2.0, (h - 1) / 2.0)
                fallback[b] = "no points; image centre"
    return FilterResult(centers=centers, temporal=t_keep, spatial=s_keep, fallback=fallback)


def pad_flat(points: np.ndarray, observer: np.ndarray, onset_ms: np.ndarray, original_hw) -> Padded:
    """One record given as flat arrays -> a :class:`Padded` batch of one.

    Args:
      points: ``[n, 2]`` (x, y) of every recorded point, in recorded order within each
        observer; a point that is NaN or outside the image (``[-0.5, w - 0.5] x
        [-0.5, h - 0.5]``) keeps its place in the sequence for the temporal filter and
        is never used for the centre.
      observer: ``int [n]`` observer index per point (0 .. O-1).
      onset_ms: ``float [n]`` (NaN: unknown).
      original_hw: ``(h, w)``.
    """
    points = np.asarray(points, np.float64).reshape(-1, 2)
    observer = np.asarray(observer, np.int64).reshape(-1)
    onset_ms = np.asarray(onset_ms, np.float64).reshape(-1)
    ok = usable_mask(points, np.asarray(original_hw, np.float64).reshape(2), DropCounter())
    n_obs = int(observer.max()) + 1 if len(observer) else 1
    order = np.argsort(observer, kind="stable")
    counts = np.bincount(observer, minlength=n_obs)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(observer)) - starts[observer[order]]
    n_pts = max(int(counts.max()) if len(counts) else 0, 1)
    padded_points = np.zeros((1, n_obs, n_pts, 2))
    valid = np.zeros((1, n_obs, n_pts), bool)
    usable = np.zeros((1, n_obs, n_pts), bool)
    onset = np.full((1, n_obs, n_pts), np.nan)
    padded_points[0, observer[order], rank] = np.where(ok[order, None], points[order], 0.0)
    valid[0, observer[order], rank] = True
    usable[0, observer[order], rank] = ok[order]
    onset[0, observer[order], rank] = onset_ms[order]
    return Padded(
        points=padded_points,
        valid=valid,
        onset_ms=onset,
        original_hw=np.asarray(original_hw, np.float64).reshape(1, 2),
        usable=usable,
    )


def filter_flat(
    points, observer, onset_ms, original_hw, temporal: TemporalParams, spatial: SpatialParams
):
    """:func:`filter_and_center` for one record given as flat arrays (used in tf.data).

    Args:
      points, observer, onset_ms, original_hw: as :func:`pad_flat` (every recorded point).
      temporal, spatial: the parameters.
    Returns:
      ``(center float32 [2], kept bool [n], fallback int32)``: the centre
      (x, y), which input points both filters kept (never a NaN or out-of-image one),
      and ``1`` when the centre is a fallback (``0`` otherwise).
    """
    observer = np.asarray(observer, np.int64).reshape(-1)
    padded = pad_flat(points, observer, onset_ms, original_hw)
    result = filter_and_center(padded, temporal, spatial)
    order = np.argsort(observer, kind="stable")
    counts = np.bincount(observer, minlength=padded.valid.shape[1])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(observer), np.int64)
    rank[order] = np.arange(len(observer)) - starts[observer[order]]
    kept = result.spatial[0, observer, rank] if len(observer) else np.zeros(0, bool)
    return (
        result.centers[0].astype(np.float32),
        kept.astype(bool),
        np.int32(result.fallback[0] is not None),
    )
