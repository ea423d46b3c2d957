"""Inputs for head tests: random feature taps of a two-level pyramid."""

from __future__ import annotations

import numpy as np


def random_taps(batch: int = 2, seed: int = 0) -> list:
    """``[float32 [batch, 12, 16, 8], float32 [batch, 6, 8, 16]]``: a stride-s and a
    stride-2s tap, finest first, as :class:`attention_center.AttentionCenterHead` takes them."""
    rng = np.random.default_rng(seed)
    return [
        rng.normal(size=(batch, 12, 16, 8)).astype("float32"),
        rng.normal(size=(batch, 6, 8, 16)).astype("float32"),
    ]
