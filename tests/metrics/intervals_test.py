"""Paired bootstrap intervals of a ratio of mean errors (``attention_center.metrics.intervals``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attention_center.metrics import RatioInterval, paired_mean_ratio


def _errors(n, seed=0):
    return np.random.default_rng(seed).uniform(0.02, 0.3, n)


def test_the_ratio_is_of_the_means_over_records_both_scored():
    base = _errors(30)
    mine = base * 0.9
    mine[3] = np.nan  # not scored by the method: left out of both means
    base[7] = np.nan
    keep = np.isfinite(mine) & np.isfinite(base)
    interval = paired_mean_ratio(mine, base)
    assert interval.ratio == pytest.approx(mine[keep].mean() / base[keep].mean())
    assert interval.num_records == interval.num_images == 28
    assert interval.low <= interval.ratio <= interval.high


def test_pairing_makes_a_constant_ratio_certain():
    """Errors that vary 15x from image to image but keep one ratio: the paired interval is that
    ratio, where a bootstrap of either method alone would be wide."""
    base = _errors(40)
    interval = paired_mean_ratio(1.05 * base, base)
    assert interval.high - interval.low < 1e-6
    assert interval.ratio == pytest.approx(1.05) and interval.decided


def test_records_of_one_image_are_resampled_together():
    """Five records per image: the interval is the one of the images' sums, and narrower
    (wrongly) when every record counts as an independent image."""
    rng = np.random.default_rng(3)
    base_img, mine_img = _errors(12, 1), _errors(12, 2)
    base = np.repeat(base_img, 5) + rng.normal(0, 1e-3, 60)
    mine = np.repeat(mine_img, 5) + rng.normal(0, 1e-3, 60)
    groups = [f"img{i}" for i in np.repeat(np.arange(12), 5)]
    grouped = paired_mean_ratio(mine, base, groups=groups)
    sums = paired_mean_ratio(
        np.bincount(np.repeat(np.arange(12), 5), mine),
        np.bincount(np.repeat(np.arange(12), 5), base),
    )
    assert (grouped.num_images, grouped.num_records) == (12, 60)
    assert (grouped.ratio, grouped.low, grouped.high) == pytest.approx(
        (sums.ratio, sums.low, sums.high)
    )
    naive = paired_mean_ratio(mine, base)
    assert naive.high - naive.low < 0.7 * (grouped.high - grouped.low)


def test_the_interval_covers_the_true_ratio_about_as_often_as_it_says():
    """Two methods with the same expected error, 40 images, 200 draws: a 90% interval holds 1
    in roughly 90% of them."""
    rng = np.random.default_rng(7)
    hits = 0
    for seed in range(200):
        difficulty = rng.gamma(2.0, 0.05, 40)
        a = difficulty * rng.lognormal(0, 0.4, 40)
        b = difficulty * rng.lognormal(0, 0.4, 40)
        interval = paired_mean_ratio(a, b, confidence=0.9, n_resamples=999, seed=seed)
        hits += interval.low <= 1.0 <= interval.high
    assert 0.8 <= hits / 200 <= 0.97


def test_a_small_row_is_undecided_and_one_image_has_no_interval():
    base = _errors(4, 5)
    noisy = base * np.array([0.7, 1.4, 0.9, 1.2])
    small = paired_mean_ratio(noisy, base)
    assert small.low < 1.0 < small.high and not small.decided
    assert "4 images" in str(small) and "95% CI" in str(small)
    one = paired_mean_ratio([0.1], [0.2])
    assert one.ratio == pytest.approx(0.5) and math.isnan(one.low) and not one.decided
    assert "no interval" in str(one)


def test_the_interval_is_reproducible_by_seed():
    base = _errors(20, 9)
    mine = base * np.random.default_rng(4).lognormal(0, 0.3, 20)
    assert paired_mean_ratio(mine, base, seed=1) == paired_mean_ratio(mine, base, seed=1)
    assert isinstance(paired_mean_ratio(mine, base), RatioInterval)


@pytest.mark.parametrize(
    "mine, base, groups, message",
    [
        ([0.1, 0.2], [0.1], None, "must be"),
        ([np.nan, 0.2], [0.1, np.nan], None, "no record"),
        ([0.1, 0.2], [0.0, 0.0], None, "sum to zero"),
        ([0.1, 0.2], [0.1, 0.2], ["a"], "1 groups for 2 records"),
    ],
)
def test_bad_input_is_refused_with_the_problem_named(mine, base, groups, message):
    with pytest.raises(ValueError, match=message):
        paired_mean_ratio(mine, base, groups=groups)
