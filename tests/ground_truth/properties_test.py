"""Property tests of the filters and centre (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ground_truth import filters as F
from ground_truth.records import Record

TEMPORAL = F.TemporalParams(drop_first=True, max_count=3)
SPATIAL = F.SpatialParams(2.5)

coord = st.floats(0, 500, allow_nan=False, width=32)
observer = st.lists(st.tuples(coord, coord), min_size=1, max_size=6)
observers = st.lists(observer, min_size=2, max_size=8)


def make(obs, hw=(600, 800)):
    return Record(
        image_id="p/1",
        dataset="p",
        source="p",
        modality="mouse",
        image_path="x",
        original_hw=hw,
        observers=[np.asarray(o, float).reshape(-1, 2) for o in obs],
    )


def run(obs, temporal=TEMPORAL, spatial=SPATIAL):
    padded = F.pad_records([make(obs, hw=(10**7, 10**7))])
    return F.filter_and_center(padded, temporal, spatial), padded


def margin(obs, temporal=TEMPORAL, spatial=SPATIAL):
    """Smallest |distance / (multiple x median distance) - 1| over the candidate points."""
    result, padded = run(obs, temporal, spatial)
    pts = padded.points[0][result.temporal[0]]
    if len(pts) < 3:
        return 1.0
    d = np.hypot(*(pts - np.median(pts, axis=0)).T)
    m = np.median(d)
    if m == 0:
        return 0.0
    return float(np.min(np.abs(d / (spatial.multiple * m) - 1)))


@settings(max_examples=150, deadline=None)
@given(observers, st.randoms(use_true_random=False))
def test_observer_order_does_not_matter(obs, rnd):
    shuffled = list(obs)
    rnd.shuffle(shuffled)
    a, _ = run(obs)
    b, _ = run(shuffled)
    np.testing.assert_allclose(a.centers, b.centers, rtol=1e-12, atol=1e-9)


@settings(max_examples=150, deadline=None)
@given(observers, st.floats(0.05, 20), st.floats(-1000, 1000), st.floats(-1000, 1000))
def test_translation_and_scaling_move_the_centre_alike(obs, scale, tx, ty):
    assume(margin(obs) > 1e-6)  # no point exactly on the cut, where rounding may flip it
    moved = [[(x * scale + tx, y * scale + ty) for x, y in o] for o in obs]
    a, _ = run(obs)
    b, _ = run(moved)
    expected = a.centers[0] * scale + np.array([tx, ty])
    np.testing.assert_allclose(b.centers[0], expected, rtol=1e-9, atol=1e-6 * (1 + scale * 500))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.tuples(coord, coord), min_size=4, max_size=6), min_size=4, max_size=8),
    st.floats(0, 2 * np.pi),
    st.floats(20, 1e4),
)
def test_one_far_outlier_moves_the_centre_boundedly(obs, angle, far):
    """One point replaced by a stray one, anywhere beyond the clean cloud: it is dropped,
    its distance does not matter, and the centre moves by at most 2 x 2.5 x the median
    distance of the clean points (one rank of the medians can change; an unfiltered
    mean would move by distance / n, without bound)."""
    clean, padded = run(obs)
    pts = padded.points[0][clean.temporal[0]]
    median = np.median(pts, axis=0)
    m = float(np.median(np.hypot(*(pts - median).T)))
    assume(m > 1.0)
    direction = np.array([np.cos(angle), np.sin(angle)])
    extent = np.max(np.hypot(*(pts - median).T))
    results = []
    for distance in (far, 10 * far):
        outlier = median + direction * (extent + SPATIAL.multiple * 4 * m + distance)
        # Observer 0's first kept point becomes the outlier.
        bad = [list(o) for o in obs]
        bad[0][1] = tuple(outlier)
        result, padded2 = run(bad)
        assert not result.spatial[0][0, 1], "the far outlier was kept"
        results.append(result.centers[0])
    np.testing.assert_allclose(results[0], results[1], atol=1e-9)
    assert np.linalg.norm(results[0] - clean.centers[0]) <= 2 * SPATIAL.multiple * m
