""":func:`export.ranges.mse_range`: the int8 range of least squared error for a histogram.

Checked against the quantity it minimizes, computed directly: values quantized to 255 steps
over a range (clipped outside it), squared error averaged over the values.
"""

from __future__ import annotations

import numpy as np
import pytest

from export.ranges import BINS, STEPS, mse_range


def quantized_mse(values: np.ndarray, low: float, high: float) -> float:
    """Mean squared error of ``values`` quantized to ``STEPS`` steps over ``[low, high]``."""
    low, high = min(low, 0.0), max(high, 0.0)
    step = (high - low) / STEPS
    levels = np.round((np.clip(values, low, high) - low) / step)
    return float(np.mean((values - (low + levels * step)) ** 2))


def histogram(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    low, high = float(values.min()), float(values.max())
    return np.histogram(values, BINS, (low, high))[0], low, high


def test_rare_large_values_are_clipped_for_a_finer_step():
    rng = np.random.default_rng(0)
    # A bulk near zero and one value 40x further out. Clipping it costs its distance squared
    # (about 1,300); the full range's rounding costs each value step**2 / 12 (about 5,000 over
    # the two million), a range of +-5 about 170: clipping wins.
    values = np.concatenate([rng.normal(0.0, 1.0, 2_000_000), [40.0]])
    counts, low, high = histogram(values)
    a, b = mse_range(counts, low, high)
    assert low <= a < 0 < b < 0.5 * high, (a, b, low, high)
    assert np.mean((values >= a) & (values <= b)) > 0.999  # the bulk is kept
    chosen = quantized_mse(values, a, b)
    assert chosen < 0.5 * quantized_mse(values, low, high)
    # No range of the search grid is better by more than the histogram's resolution.
    for fa in (0.1, 0.2, 0.4, 0.7, 1.0):
        for fb in (0.05, 0.1, 0.2, 0.4, 0.7, 1.0):
            assert chosen <= quantized_mse(values, low * fa, high * fb) * 1.05, (fa, fb)


def test_many_large_values_are_kept():
    rng = np.random.default_rng(3)
    # 20 values in a million 30-40x out: clipping them would cost more than their range does.
    values = np.concatenate([rng.normal(0.0, 1.0, 1_000_000), rng.uniform(30, 40, 20)])
    counts, low, high = histogram(values)
    a, b = mse_range(counts, low, high)
    assert b > 0.7 * high
    assert quantized_mse(values, a, b) <= quantized_mse(values, low, high) * 1.05


def test_uniform_values_keep_their_whole_range():
    values = np.random.default_rng(1).uniform(0.0, 6.0, 200_000)  # ReLU6-like, no outliers
    counts, low, high = histogram(values)
    a, b = mse_range(counts, low, high)
    assert a == low and b >= 0.97 * high, (a, b)
    assert quantized_mse(values, a, b) <= quantized_mse(values, low, high) * 1.05


def test_one_sided_ranges_keep_their_zero_side():
    values = np.concatenate(
        [np.random.default_rng(2).exponential(0.5, 2_000_000), [25.0]]
    )  # non-negative, long-tailed
    counts, low, high = histogram(values)
    a, b = mse_range(counts, low, high)
    assert a == low and 0 < b < 0.5 * high


@pytest.mark.parametrize(
    "counts, low, high",
    [(np.zeros(BINS), -1.0, 1.0), (np.ones(BINS), 2.0, 2.0), (np.ones(BINS), 1.0, -1.0)],
)
def test_empty_histograms_and_ranges_are_left_alone(counts, low, high):
    assert mse_range(counts, low, high) == (low, high)
