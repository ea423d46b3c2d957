"""Split-half consistency, the one implementation behind the human ceiling and the proxy study."""

from __future__ import annotations

import numpy as np
import pytest

from attention_center.core.consistency import split_half_agreement, split_halves


def test_two_observers_give_their_distance_over_the_diagonal():
    # Observer 3 looks at (100, 100), observer 8 at (400, 500): every split puts one in each
    # half, so the half-centres are those points.
    points = [(100, 100), (100, 100), (400, 500)]
    error, same = split_half_agreement(points, [3, 3, 8], (600, 800), "img/a", num_splits=5)
    assert error == pytest.approx(np.hypot(300, 400) / np.hypot(600, 800))
    assert same == 0.0  # (100, 100) and (400, 500) lie in different 256x256 groups


def test_halves_depend_on_the_image_and_seed_only():
    a = split_halves(7, "img/a", num_splits=4, seed=1)
    assert a.shape == (4, 7) and (a.sum(axis=1) == 3).all()
    np.testing.assert_array_equal(a, split_halves(7, "img/a", num_splits=4, seed=1))
    assert not np.array_equal(a, split_halves(7, "img/b", num_splits=4, seed=1))


def test_fewer_than_two_observers_is_nan_and_bad_lengths_are_refused():
    assert np.isnan(split_half_agreement([(1, 2), (3, 4)], [0, 0], (10, 10), "x")[0])
    with pytest.raises(ValueError, match="img/c: 2 points but 1 observer_of_point"):
        split_half_agreement([(1, 2), (3, 4)], [0], (10, 10), "img/c")
