"""Temporal filter, spatial filter and centre: unit cases, fallbacks, and the
vectorized batch code against a plain per-observer loop on real records."""

from __future__ import annotations

import numpy as np
import pytest

from ground_truth import filters as F
from ground_truth.readers import read_source
from ground_truth.records import Record


def record(observers, onset=None, duration=None, modality="eye", hw=(100, 200)):
    return Record(
        image_id="t/1",
        dataset="t",
        source="t",
        modality=modality,
        image_path="x",
        original_hw=hw,
        observers=[np.asarray(o, float).reshape(-1, 2) for o in observers],
        onset_ms=None if onset is None else [np.asarray(o, float) for o in onset],
        duration_ms=None if duration is None else [np.asarray(d, float) for d in duration],
    )


def reference_center(rec: Record, temporal: F.TemporalParams, spatial: F.SpatialParams):
    """A plain loop implementation of the documented rules (independent of the batch code)."""
    kept = []
    for i, obs in enumerate(rec.observers):
        onsets = F.observer_onsets(rec, i, len(obs))
        chosen = []
        for j, (p, t) in enumerate(zip(obs, onsets)):
            if temporal.drop_first and j == 0:
                continue
            if temporal.min_onset_ms is not None and t < temporal.min_onset_ms:
                continue
            if temporal.max_count is not None and len(chosen) >= temporal.max_count:
                break
            if temporal.max_onset_ms is not None and t > temporal.max_onset_ms:
                continue
            chosen.append(p)
        kept.extend(chosen)
    pts = np.array(kept).reshape(-1, 2)
    if len(pts) == 0:
        return None
    median = np.median(pts, axis=0)
    d = np.hypot(*(pts - median).T)
    pts = pts[d <= spatial.multiple * np.median(d)]
    return pts.mean(axis=0)


@pytest.mark.parametrize(
    "source, count",
    [("osie_eye", 40), ("scene_eye", 40), ("salicon_mouse", 10), ("osie_mouse_lab", 20)],
)
def test_batch_code_matches_plain_loop_on_real_records(shared_data_dir, source, count):
    records = read_source(source, shared_data_dir).records[:count]
    t, s = F.params_for(records[0])
    result = F.filter_and_center(F.pad_records(records, max_points=t.points_needed), t, s)
    for k, rec in enumerate(records):
        np.testing.assert_allclose(result.centers[k], reference_center(rec, t, s), atol=1e-9)
        single = F.filter_and_center(F.pad_records([rec]), t, s)
        np.testing.assert_allclose(single.centers[0], result.centers[k], atol=1e-9)


def test_temporal_drop_first_count_and_onset():
    valid = np.ones((1, 6), bool)
    onset = np.array([[0, 200, 400, 900, 1600, 1700]], float)
    keep = F.temporal_keep(valid, onset, F.TemporalParams(drop_first=True, max_count=3))
    assert keep.tolist() == [[False, True, True, True, False, False]]
    keep = F.temporal_keep(
        valid, onset, F.TemporalParams(drop_first=True, max_count=None, max_onset_ms=1000)
    )
    assert keep.tolist() == [[False, True, True, True, False, False]]
    keep = F.temporal_keep(
        valid, onset, F.TemporalParams(drop_first=False, min_onset_ms=100, max_count=2)
    )
    assert keep.tolist() == [[False, True, True, False, False, False]]
    # Padding is never kept.
    valid[0, 2:] = False
    keep = F.temporal_keep(valid, onset, F.TemporalParams(drop_first=False, max_count=None))
    assert keep.tolist() == [[True, True, False, False, False, False]]


def test_onsets_from_durations():
    rec = record([[[1, 1], [2, 2], [3, 3]]], duration=[[250, 100, 300]])
    np.testing.assert_allclose(F.observer_onsets(rec, 0, 3), [0, 250, 350])


def test_spatial_filter_drops_a_stray_point():
    cluster = [[50 + dx, 40 + dy] for dx in (-2, 0, 2) for dy in (-2, 0, 2)]
    rec = record([cluster + [[190, 95]]], modality="mouse")
    result = F.filter_and_center(
        F.pad_records([rec]),
        F.TemporalParams(drop_first=False, max_count=None),
        F.SpatialParams(2.5),
    )
    np.testing.assert_allclose(result.centers[0], [50, 40])
    assert result.spatial.sum() == 9 and result.fallback == [None]


def test_fallback_when_temporal_filter_keeps_nothing():
    # Every observer has only the pre-stimulus fixation.
    rec = record([[[10, 20]], [[30, 40]]], duration=[[200], [300]])
    t, s = F.params_for(rec)
    result = F.filter_and_center(F.pad_records([rec]), t, s)
    assert result.fallback == ["temporal filter kept no point; centre of all points"]
    np.testing.assert_allclose(result.centers[0], [20, 30])


def test_fallback_without_points_is_recorded_image_centre():
    padded = F.Padded(
        points=np.zeros((1, 1, 1, 2)),
        valid=np.zeros((1, 1, 1), bool),
        onset_ms=np.full((1, 1, 1), np.nan),
        original_hw=np.array([[100.0, 200.0]]),
    )
    result = F.filter_and_center(padded, F.TemporalParams(), F.SpatialParams())
    assert result.fallback == ["no points; image centre"]
    np.testing.assert_allclose(result.centers[0], [99.5, 49.5])


def test_filter_flat_matches_padded(shared_data_dir):
    for rec in read_source("scene_eye", shared_data_dir).records[:15]:
        t, s = F.params_for(rec)
        pts = np.concatenate(rec.observers)
        obs = np.concatenate([np.full(len(o), i) for i, o in enumerate(rec.observers)])
        # Interleave observers (round robin): only the order within an observer matters.
        rank = np.concatenate([np.arange(len(o)) for o in rec.observers])
        perm = np.lexsort((obs, rank))
        assert not np.all(np.diff(obs[perm]) >= 0)
        on = np.concatenate(rec.onset_ms)
        center, kept, fb = F.filter_flat(pts[perm], obs[perm], on[perm], rec.original_hw, t, s)
        expected = F.filter_and_center(F.pad_records([rec]), t, s)
        np.testing.assert_allclose(center, expected.centers[0], rtol=1e-6)
        assert kept.sum() == expected.spatial.sum() and fb == 0


def test_points_needed_truncation_is_exact(shared_data_dir):
    records = read_source("osie_mouse_lab", shared_data_dir).records[:10]
    t, s = F.params_for(records[0])
    full = F.filter_and_center(F.pad_records(records), t, s)
    cut = F.filter_and_center(F.pad_records(records, max_points=t.points_needed), t, s)
    np.testing.assert_allclose(full.centers, cut.centers)
