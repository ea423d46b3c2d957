"""The group-order strategies compared, and the cjxl flags each gives one image.

* ``default``: cjxl's default group order (scanline);
* ``middle``: centre-first from the middle of the image (``--group_order 1``);
* ``google``: centre-first from Google's predicted centre (the anchor);
* ``ours``: centre-first from our model's predicted centre;
* ``chosen``: centre-first from the centre :func:`attention_center.jxl.center_choice.choose_center`
  picks from our model's weighting map (what ``attention-center encode
  --center_strategy=chosen`` does: group sizes estimated by area);
* ``truth``: centre-first from the human centre itself;
* ``oracle``: the best group order for the human region given the measured group sizes
  (:mod:`benchmarks.progressive.groups`): every centre-first order (every group and
  quarter) and the scanline order scored by the bytes until the region around the human
  centre is final; a bound on what any choice of flags can do.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from attention_center.core.frames import MODEL_FRAME_HW, frame_transform
from attention_center.core.orientation import displayed_to_stored, stored_hw
from attention_center.jxl.center_choice import (
    DEFAULT_SHARPNESS,
    DEFAULT_SIGMA,
    attention_points,
    choose_center,
    final_bytes,
    gaussian_points,
    region_group_masks,
    region_group_spans,
    score_orders,
)
from attention_center.jxl.encoder import encoder_center
from attention_center.jxl.group_order import group_order

__all__ = ["LABELS", "STRATEGIES", "center_flags", "chosen_center", "oracle_choice"]

STRATEGIES = ("default", "middle", "google", "ours", "chosen", "truth", "oracle")
LABELS = {
    "default": "default group order (scanline)",
    "middle": "centre-first, image middle",
    "google": "centre-first, Google's predicted centre",
    "ours": "centre-first, our predicted centre",
    "chosen": "centre-first, centre chosen for the group order (ours)",
    "truth": "centre-first, ground-truth centre",
    "oracle": "best order for the human region (bound)",
}


def center_flags(center) -> list[str]:
    """``(x, y)`` stored pixels -> ``--group_order 1 --center_x X --center_y Y``."""
    return [
        "--group_order",
        "1",
        "--center_x",
        str(int(center[0])),
        "--center_y",
        str(int(center[1])),
    ]


def chosen_center(
    model_center,
    original_hw,
    orientation: int,
    sigma: float = DEFAULT_SIGMA,
    side: int = 256,
    weight_map=None,
    sharpness: float = DEFAULT_SHARPNESS,
    group_bytes=None,
) -> Optional[tuple[int, int]]:
    """The chosen centre (stored pixels), as ``encode --center_strategy=chosen`` picks it.

    A Gaussian of spread ``sigma`` around our centre, or with ``weight_map`` our
    weighting map to the power ``sharpness``; ``None`` without a centre.
    """
    if model_center is None:
        return None
    hw = stored_hw(tuple(original_hw), orientation)
    model = encoder_center(model_center, tuple(original_hw), orientation)
    if weight_map is not None:
        transform = frame_transform(tuple(original_hw), MODEL_FRAME_HW)
        points, weights = attention_points(weight_map, transform, orientation, sharpness)
    else:
        points, weights = gaussian_points(model, hw, sigma)
    choice = choose_center(
        points, weights, hw, model_center=model, group_bytes=group_bytes, side=side
    )
    return choice.center


def oracle_choice(gt_center, original_hw, groups: dict, side: int = 256) -> dict:
    """The best flags for the human region, scored with the measured group sizes.

    Returns:
      ``{"flags", "predicted_bytes", "scanline_bytes", "truth_bytes"}``: the flags of the
      best order (``[]`` when scanline wins) and the bytes the group model predicts for
      it, for scanline and for the truth centre (for the model check in the report).
    """
    hw = tuple(int(v) for v in original_hw)  # orientation 1 (groups.py measures no other)
    sizes = np.asarray(groups["section_bytes"], np.float64)
    masks = region_group_masks(np.asarray([gt_center], np.float64), hw, side)
    spans = region_group_spans(np.asarray([gt_center], np.float64), hw, side)
    scores = score_orders(hw, spans, [1.0], sizes, groups["base_centre_first"])
    best = min(scores, key=lambda k: (scores[k][0], k))
    best_cost, best_center = scores[best]
    scan_cost = float(
        final_bytes(group_order(hw, centre_first=False), sizes, masks, groups["base_scanline"])[0]
    )
    truth = encoder_center(gt_center, hw, 1)
    truth_cost = float(
        final_bytes(group_order(hw, truth), sizes, masks, groups["base_centre_first"])[0]
    )
    flags = [] if scan_cost < best_cost else center_flags(best_center)
    return {
        "flags": flags,
        "predicted_bytes": min(best_cost, scan_cost),
        "scanline_bytes": scan_cost,
        "truth_bytes": truth_cost,
    }


def strategy_flags(
    strategy: str,
    row: dict,
    predicted: dict,
    orientation: int,
    chosen: Optional[tuple],
    oracle: Optional[dict],
) -> Optional[list[str]]:
    """cjxl flags (besides the extra flags) for a strategy on one image; ``None``: no centre.

    Args:
      row: the ground-truth row (``center``, ``original_hw``).
      predicted: ``{"google": (x, y) or None, "ours": ...}`` displayed pixels.
      orientation: EXIF orientation of the input file.
      chosen: the chosen centre (stored pixels) or ``None``.
      oracle: :func:`oracle_choice`'s result or ``None``.
    """
    hw = tuple(row["original_hw"])
    if strategy == "default":
        return []
    if strategy == "middle":
        return ["--group_order", "1"]
    if strategy == "chosen":
        return None if chosen is None else center_flags(chosen)
    if strategy == "oracle":
        return None if oracle is None else list(oracle["flags"])
    center = row["center"] if strategy == "truth" else predicted.get(strategy)
    if center is None:
        return None
    return center_flags(encoder_center(center, hw, orientation))


def stored_point(point, original_hw, orientation: int):
    """A displayed (x, y) in stored pixels (float)."""
    return displayed_to_stored(float(point[0]), float(point[1]), tuple(original_hw), orientation)
