"""The temporal filter sees each observer's points as recorded; validation drops after it.

An off-image (or NaN) point keeps its place in the sequence: an off-image first sample is
the one ``drop_first`` drops, an off-image point counts among the first ``k``, and an
off-image fixation's duration still delays the onsets of the later ones. Hand-made
records (their numbers worked out in the comments) and BubbleView's ``saliconMM30.mat``,
where 4 observers' first sample is off the image.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FIXTURES

from ground_truth import filters as F
from ground_truth.readers import read_source
from ground_truth.readers.common import make_record

IMAGE = FIXTURES / "ground_truth" / "osie" / "data" / "stimuli" / "1001.jpg"  # 800 x 600
HW = (600, 800)


def record(observers, modality="mouse", duration_ms=None, onset_ms=None):
    return make_record(
        image_id="t/1001",
        dataset="t",
        source=f"t_{modality}",
        modality=modality,
        image_path=IMAGE,
        original_hw=HW,
        observers=[np.asarray(o, np.float64) for o in observers],
        duration_ms=duration_ms,
        onset_ms=onset_ms,
    )


def kept(rec, temporal, spatial=F.SpatialParams(multiple=None)):
    padded = F.pad_records([rec], max_points=temporal.points_needed)
    result = F.filter_and_center(padded, temporal, spatial)
    return padded.points[0][result.spatial[0]], result


def test_an_off_image_first_sample_is_the_one_drop_first_drops():
    rec = record([[[-40, 300], [100, 100], [110, 110], [120, 120]]])
    assert rec.num_points == 3 and rec.drops["points_outside"] == 1
    points, result = kept(rec, F.TemporalParams(drop_first=True, max_count=2))
    # Recorded: off-image start, then three samples; drop the start, keep the next two.
    np.testing.assert_array_equal(points, [[100, 100], [110, 110]])
    np.testing.assert_allclose(result.centers[0], [105, 105])


def test_an_off_image_point_counts_among_the_first_k_and_is_dropped_after():
    rec = record([[[400, 300], [100, 100], [900, 100], [120, 120], [130, 130]]])
    points, _ = kept(rec, F.TemporalParams(drop_first=True, max_count=3))
    # After the start: (100, 100), the off-image (900, 100), (120, 120) are the first 3.
    np.testing.assert_array_equal(points, [[100, 100], [120, 120]])


def test_a_nan_point_keeps_its_place_too():
    rec = record([[[400, 300], [np.nan, 5], [100, 100], [110, 110]]])
    assert rec.drops["points_nan"] == 1
    points, _ = kept(rec, F.TemporalParams(drop_first=True, max_count=2))
    np.testing.assert_array_equal(points, [[100, 100]])


def test_an_off_image_fixation_still_delays_the_later_onsets():
    # Durations 300, 1000 (off the image), 300, 300, 300: onsets 0, 300, 1300, 1600, 1900.
    rec = record(
        [[[400, 300], [-20, 10], [10, 10], [90, 90], [90, 10]]],
        modality="eye",
        duration_ms=[np.array([300.0, 1000, 300, 300, 300])],
    )
    np.testing.assert_allclose(F.observer_onsets(rec, 0, 4), [0, 1300, 1600, 1900])
    # eye defaults: drop the first, k = 3, T = 1500 ms: of (-20, 10), (10, 10), (90, 90)
    # only (10, 10) is usable and began by 1500 ms (validating first gave onsets 0, 300,
    # 600, 900 and kept three fixations).
    points, _ = kept(rec, F.params_for("eye")[0])
    np.testing.assert_array_equal(points, [[10, 10]])


def test_real_onsets_of_dropped_points_still_count():
    # eye_onsets defaults: drop onsets < 100 ms, keep 3 of the rest within 1500 ms.
    rec = record(
        [[[400, 300], [900, 10], [10, 10], [20, 20], [30, 30]]],
        modality="eye",
        onset_ms=[np.array([50.0, 200, 400, 600, 800])],
    )
    points, _ = kept(rec, F.params_for("eye", has_onsets=True)[0])
    np.testing.assert_array_equal(points, [[10, 10], [20, 20]])


def test_a_record_without_drops_carries_no_recorded_sequence():
    rec = record([[[400, 300], [100, 100]], [[10, 10], [20, 20]]])
    assert rec.recorded_index is None and rec.recorded_onset_ms is None
    dropped = record([[[400, 300], [100, 100]], [[10, 10], [2000, 20]]])
    np.testing.assert_array_equal(dropped.recorded_index[0], [0, 1])
    np.testing.assert_array_equal(dropped.recorded_index[1], [0])
    assert [len(o) for o in dropped.recorded_onset_ms] == [2, 2]


def test_an_observer_with_no_usable_point_is_dropped_and_counted():
    rec = record([[[-5, -5], [900, 900]], [[10, 10], [20, 20]]])
    assert rec.num_observers == 1 and rec.drops["observers_empty"] == 1
    assert rec.drops["points_outside"] == 2


def test_filter_flat_on_the_recorded_sequence_matches_the_builder():
    """tf.data's re-filter gets the recorded sequence, NaN where a point was dropped."""
    rec = record(
        [
            [[-40, 300], [100, 100], [110, 110], [120, 120], [900, 5], [130, 140]],
            [[400, 300], [np.nan, 1], [105, 104], [115, 112]],
        ]
    )
    t, s = F.TemporalParams(drop_first=True, max_count=3), F.SpatialParams()
    expected = F.filter_and_center(F.pad_records([rec]), t, s)
    points, observer, onsets = [], [], []
    for k, (obs, index, rec_on) in enumerate(
        zip(rec.observers, rec.recorded_index, rec.recorded_onset_ms)
    ):
        raw = np.full((len(rec_on), 2), np.nan)
        raw[index] = obs
        points.append(raw)
        observer.append(np.full(len(rec_on), k))
        onsets.append(rec_on)
    center, kept_flat, fallback = F.filter_flat(
        np.concatenate(points), np.concatenate(observer), np.concatenate(onsets), HW, t, s
    )
    np.testing.assert_allclose(center, expected.centers[0], rtol=1e-6)
    assert kept_flat.sum() == expected.spatial.sum() == 5 and fallback == 0
    assert np.all(np.isfinite(np.concatenate(points)[kept_flat]))


def test_every_recorded_point_is_kept_temporal_or_not_for_the_fallback():
    # Only the start is usable: the temporal filter keeps nothing; the fallback uses it.
    rec = record([[[400, 300], [-1, -1], [-2, -2]]])
    points, result = kept(rec, F.TemporalParams(drop_first=True, max_count=2))
    assert result.fallback == ["temporal filter kept no point; centre of all points"]
    np.testing.assert_array_equal(points, [[400, 300]])


@pytest.fixture(scope="module")
def salicon_mm30(shared_data_dir):
    return read_source("bv_salicon_mouse_mm30", shared_data_dir)


def test_salicon_mm30_off_image_first_samples_are_the_dropped_start(salicon_mm30):
    """saliconMM30.mat: 4 points off the image, each an observer's first sample."""
    assert salicon_mm30.drops["points_outside"] == 4
    cases = [
        (r, i)
        for r in salicon_mm30.records
        if r.recorded_index is not None
        for i, index in enumerate(r.recorded_index)
        if index[0] != 0
    ]
    assert len(cases) == 4
    t, s = F.params_for("bv_salicon_mouse_mm30")
    for rec, i in cases:
        padded = F.pad_records([rec], max_points=t.points_needed)
        result = F.filter_and_center(padded, t, s)
        index = rec.recorded_index[i]
        # The temporal filter keeps recorded positions 1 .. 30: the observer's first
        # usable sample (position 1) included, position 31 not.
        kept_positions = np.flatnonzero(result.temporal[0, i])
        np.testing.assert_array_equal(kept_positions, index[(index >= 1) & (index <= 30)])
        assert kept_positions[0] == 1
        full = F.filter_and_center(F.pad_records([rec]), t, s)  # truncation stays exact
        np.testing.assert_allclose(full.centers, result.centers)
