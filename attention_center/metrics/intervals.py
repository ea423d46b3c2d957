"""How sure a comparison of two methods' mean centre errors is: a paired bootstrap interval.

The benchmark rows are small (1 to 87 test images), and issue-style bars ("at or below
`large`", "at most 0.8x the dataset-mean centre") are ratios of two means measured on the same
images. :func:`paired_mean_ratio` gives that ratio with a confidence interval from
:func:`scipy.stats.bootstrap`, resampling **images** (with all their records: a chart scored
against three click experiments counts once) and keeping the two methods paired, so the
interval reflects how much the ratio would move on another draw of images like these, not the
spread of either method alone.

Errors are the per-record arrays of :class:`attention_center.evaluation.evaluate.MethodResult`
(``float64 [N]``, centre error over the image diagonal; NaN = not scored); records where either
method has no score are left out of both.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Optional

import numpy as np

__all__ = ["RatioInterval", "paired_mean_ratio"]


@dataclasses.dataclass(frozen=True)
class RatioInterval:
    """``mean(errors) / mean(baseline_errors)`` over the records both scored, with its interval.

    Attributes:
      ratio: the ratio of the two mean errors (below 1: the first method is better).
      low, high: the bootstrap confidence interval's bounds (NaN with fewer than 2 images).
      confidence: the interval's level, e.g. 0.95.
      num_images: independent units resampled (images; records when no groups were given).
      num_records: records scored by both methods.
    """

    ratio: float
    low: float
    high: float
    confidence: float
    num_images: int
    num_records: int

    @property
    def decided(self) -> bool:
        """True when the whole interval lies on one side of 1 (the two means differ)."""
        return math.isfinite(self.low) and (self.high < 1.0 or self.low > 1.0)

    def __str__(self) -> str:
        if not math.isfinite(self.low):
            return f"{self.ratio:.2f}x (no interval: {self.num_images} image)"
        return (
            f"{self.ratio:.2f}x ({self.confidence:.0%} CI {self.low:.2f}-{self.high:.2f}, "
            f"{self.num_images} images)"
        )


def _group_sums(
    errors: np.ndarray, baseline: np.ndarray, groups: Optional[Sequence]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-group sums of both error arrays (one entry per group, first-seen order)."""
    if groups is None:
        return errors, baseline
    index: dict = {}
    ids = np.array([index.setdefault(g, len(index)) for g in groups], dtype=np.int64)
    return (
        np.bincount(ids, weights=errors, minlength=len(index)),
        np.bincount(ids, weights=baseline, minlength=len(index)),
    )


def paired_mean_ratio(
    errors,
    baseline_errors,
    groups: Optional[Sequence] = None,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
) -> RatioInterval:
    """The ratio of two methods' mean errors on the same records, with a bootstrap interval.

    Args:
      errors: ``float [N]`` the method's per-record errors (NaN: not scored).
      baseline_errors: ``float [N]`` the baseline's, record for record.
      groups: ``[N]`` hashable unit of each record (its image id): resampled as a whole.
        ``None``: every record is its own unit.
      confidence: the interval's level, in (0, 1).
      n_resamples: bootstrap resamples.
      seed: the resampling's seed (the interval is reproducible).
    Returns:
      :class:`RatioInterval`: BCa interval (scipy's default); the percentile interval where
      BCa is undefined (e.g. every resample gives the same ratio); NaN bounds with one unit.
    Raises:
      ValueError: the arrays' lengths differ, no record has both scores, or the baseline's
        errors sum to zero.
    """
    from scipy import stats

    errors = np.asarray(errors, dtype=np.float64)
    baseline = np.asarray(baseline_errors, dtype=np.float64)
    if errors.shape != baseline.shape or errors.ndim != 1:
        raise ValueError(f"errors {errors.shape} and baseline {baseline.shape} must be [N] alike")
    if groups is not None and len(groups) != len(errors):
        raise ValueError(f"{len(groups)} groups for {len(errors)} records")
    valid = np.isfinite(errors) & np.isfinite(baseline)
    if not valid.any():
        raise ValueError("no record is scored by both methods")
    kept_groups = None if groups is None else [g for g, v in zip(groups, valid) if v]
    a, b = _group_sums(errors[valid], baseline[valid], kept_groups)
    if b.sum() <= 0:
        raise ValueError("the baseline's errors sum to zero: no ratio")
    ratio = float(a.sum() / b.sum())
    nan = float("nan")
    if len(a) < 2:
        return RatioInterval(ratio, nan, nan, confidence, len(a), int(valid.sum()))

    def statistic(x, y, axis=-1):
        with np.errstate(divide="ignore", invalid="ignore"):
            return x.sum(axis=axis) / y.sum(axis=axis)

    low = high = nan
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                (a, b),
                statistic,
                paired=True,
                vectorized=True,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method=method,
                rng=np.random.default_rng(seed),
            )
        low, high = (float(v) for v in result.confidence_interval)
        if math.isfinite(low) and math.isfinite(high):
            break
    return RatioInterval(ratio, low, high, confidence, len(a), int(valid.sum()))
