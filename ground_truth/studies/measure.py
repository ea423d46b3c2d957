"""Measurements behind the temporal defaults (``python -m ground_truth measure``).

For each source and each temporal setting (``max_count`` k, ``max_onset_ms``
T), over all images:

* ``shift``: mean distance of the centre from the centre with every point
  (k = all, T = none; same pre-stimulus drop and spatial filter), in % of the
  image diagonal: how far the *initial* centre is from the overall one;
* ``split_half``: observers of each image are split at random into two halves
  (fixed seed); mean distance between the two halves' centres, % of the
  diagonal: how well people agree, i.e. how reliable the target is (lower is
  better);
* ``from_middle``: mean distance of the centre from the image's middle, % of
  the diagonal (a small value with a small split-half means agreement that
  comes from the centre bias, e.g. a mouse that has barely left its start);
* ``fallbacks``: records whose centre needed a fallback.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ground_truth import filters as F

__all__ = ["measure_temporal", "temporal_table_markdown"]


def _centres(padded, temporal, spatial, valid=None):
    p = padded if valid is None else dataclasses.replace(padded, valid=valid)
    r = F.filter_and_center(p, temporal, spatial)
    return r.centers, np.array([f is not None for f in r.fallback])


def measure_temporal(
    records, counts, onsets_ms, seed: int = 0, spatial=None, max_points=None
) -> list[dict]:
    """Rows ``{k, T, shift, split_half, fallbacks}`` for every (k, T) pair.

    Args:
      records: records of one source.
      counts: values of ``max_count`` (``None`` = all).
      onsets_ms: values of ``max_onset_ms`` (``None`` = no limit).
      max_points: pad at most this many leading points per observer ("all"
        then means all of those; bounds memory for long mouse tracks).
    """
    base_t, base_s = F.params_for(records[0])
    spatial = spatial or base_s
    padded = F.pad_records(records, max_points=max_points)
    diag = np.hypot(padded.original_hw[:, 0], padded.original_hw[:, 1])
    middle = (padded.original_hw[:, ::-1] - 1) / 2.0
    rng = np.random.default_rng(seed)
    n_obs = np.array([r.num_observers for r in records])
    half = np.zeros(padded.valid.shape[:2], bool)
    for b, n in enumerate(n_obs):
        half[b, rng.permutation(n)[: n // 2]] = True
    valid_a = padded.valid & half[:, :, None]
    valid_b = (
        padded.valid & ~half[:, :, None] & (np.arange(half.shape[1]) < n_obs[:, None])[:, :, None]
    )
    ref, _ = _centres(
        padded, dataclasses.replace(base_t, max_count=None, max_onset_ms=None), spatial
    )
    rows = []
    for k in counts:
        for t in onsets_ms:
            params = dataclasses.replace(base_t, max_count=k, max_onset_ms=t)
            c, fb = _centres(padded, params, spatial)
            ca, _ = _centres(padded, params, spatial, valid_a)
            cb, _ = _centres(padded, params, spatial, valid_b)
            rows.append(
                {
                    "k": k,
                    "T": t,
                    "shift": float(np.mean(np.linalg.norm(c - ref, axis=1) / diag) * 100),
                    "split_half": float(np.nanmean(np.linalg.norm(ca - cb, axis=1) / diag) * 100),
                    "from_middle": float(np.mean(np.linalg.norm(c - middle, axis=1) / diag) * 100),
                    "fallbacks": int(fb.sum()),
                }
            )
    return rows


def temporal_table_markdown(source: str, rows: list[dict]) -> str:
    """A markdown table of :func:`measure_temporal` rows."""
    lines = [
        f"**{source}** (distances in % of the image diagonal)",
        "",
        "| k | T (ms) | shift from all | split-half | from middle | fallbacks |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['k'] or 'all'} | {'-' if r['T'] is None else format(r['T'], 'g')} | {r['shift']:.2f} | "  # noqa: E501
            f"{r['split_half']:.2f} | {r['from_middle']:.2f} | {r['fallbacks']} |"
        )
    return "\n".join(lines) + "\n"
