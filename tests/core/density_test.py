"""Fixation density maps."""

from __future__ import annotations

import numpy as np
import pytest

from attention_center.core.density import (
    SIGMA_FRACTION,
    density_map,
    fixation_counts,
    sigma_for,
)


def test_one_point_peaks_there_and_sums_to_one():
    m = density_map([[10, 20]], (60, 80), sigma_px=2.0)
    assert m.shape == (60, 80) and m.dtype == np.float32
    assert np.unravel_index(np.argmax(m), m.shape) == (20, 10)
    np.testing.assert_allclose(m.sum(), 1.0, rtol=1e-5)
    # A Gaussian: the value one sigma away is exp(-1/2) of the peak.
    np.testing.assert_allclose(m[20, 12] / m[20, 10], np.exp(-0.5), rtol=0.02)


def test_counts_ignore_points_outside_and_round_to_pixel_centres():
    c = fixation_counts([[0.4, 0.4], [0.6, 0.0], [-0.6, 0], [79.4, 59.4], [80, 10]], (60, 80))
    assert c[0, 0] == 1 and c[0, 1] == 1 and c[59, 79] == 1 and c.sum() == 3


def test_empty_and_max_normalisation():
    assert density_map(np.zeros((0, 2)), (4, 5), 1.0).sum() == 0
    m = density_map([[1, 1], [3, 2]], (4, 5), 1.0, normalize="max")
    assert m.max() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        density_map([[1, 1]], (4, 5), 1.0, normalize="mean")


def test_sigma_is_one_degree_of_osie():
    assert sigma_for((600, 800)) == pytest.approx(24.0)
    assert SIGMA_FRACTION == pytest.approx(0.03)
