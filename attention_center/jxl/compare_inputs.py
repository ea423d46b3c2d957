"""What the compare page needs about one image: each strategy's centre, and human fixations if any.

* :func:`strategy_columns`: the page's columns, scanline order, Google's centre (when its
  model is given) and ours (``encode``'s own choice for the image: the model's centre, or
  with ``center_strategy="chosen"`` the centre :mod:`attention_center.jxl.center_choice`
  picks), each with its cjxl flags (stored pixels, :func:`encoder_center`) and its
  centre in displayed pixels for the overlay.
* :func:`human_data`: the image's record in a ground-truth build (``index.jsonl``), matched
  by file: the kept first fixations and their centre (displayed pixels), eye tracking
  preferred.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from attention_center.core.ground_truth_index import resolve_image_path, select_records
from attention_center.core.orientation import read_orientation, stored_to_displayed
from attention_center.jxl.center_choice import choose_for_prediction, stored_image_hw
from attention_center.jxl.compare_page import Column
from attention_center.jxl.encoder import encoder_center, png_reason

__all__ = ["human_data", "strategy_columns"]

#: Sources preferred for the fixations shown, best first (others after them).
PREFERRED_SOURCES = ("osie_eye", "scene_eye", "fiwi_eye")


def _center_flags(center) -> list[str]:
    return [
        "--group_order",
        "1",
        "--center_x",
        str(int(center[0])),
        "--center_y",
        str(int(center[1])),
    ]


def _cjxl_orientation(source) -> int:
    """EXIF orientation of the file cjxl reads (1 when it gets an upright PNG instead:
    :func:`attention_center.jxl.compare_page.build_comparison` decides it the same way)."""
    return read_orientation(source) if png_reason(source, still=True) is None else 1


def strategy_columns(
    source, ours, google=None, center_strategy: str = "chosen"
) -> tuple[list[Column], list[str]]:
    """The page's columns for one image.

    Args:
      source: the image file.
      ours: our :class:`~attention_center.inference.prediction.Prediction` of it (with the
        weighting map when the model gives one).
      google: Google's prediction, or ``None`` (its column is left out, with a note).
      center_strategy: ``"model"`` or ``"chosen"``, as ``encode --center_strategy``.
    Returns:
      ``(columns, notes)``.
    Raises:
      ValueError: our prediction failed.
    """
    if ours is None or not ours.ok:
        raise ValueError(f"{source}: no prediction of ours ({getattr(ours, 'error', None)})")
    orientation = _cjxl_orientation(source)
    hw = tuple(ours.original_hw)
    stored = stored_image_hw(hw, orientation)
    notes = []

    def displayed(center):
        x, y = stored_to_displayed(float(center[0]), float(center[1]), stored, orientation)
        return float(x), float(y)

    columns = [Column("scanline", "default group order", [], None)]
    if google is not None and google.ok:
        center = encoder_center(google.center, hw, orientation)
        columns.append(
            Column(
                "google",
                "centre-first at Google's predicted centre",
                _center_flags(center),
                displayed(center),
            )
        )
    elif google is not None:
        notes.append(f"Google's column left out: {google.error}")
    model_center = encoder_center(ours.center, hw, orientation)
    x, y = (float(v) for v in ours.center)
    center, label = model_center, "centre-first at our predicted centre"
    note, predicted = f"encoded at our predicted centre ({x:.0f}, {y:.0f})", None
    if center_strategy == "chosen":
        choice = choose_for_prediction(ours, orientation, model_center=model_center)
        if choice is not None and not choice.kept_model_center:
            center, predicted = choice.center, (x, y)
            ex, ey = displayed(center)
            label = "centre-first at the point chosen for the group order (ours)"
            note = (
                f"encoded at ({ex:.0f}, {ey:.0f}), not at our predicted centre ({x:.0f}, "
                f"{y:.0f}): cjxl's centre-first order depends only on the group holding the "
                f"point and on which quarter of it ({_SIDES[choice.side]}) the point lies in. "
                f"That order is expected to make the region around our centre final after "
                f"{choice.expected:.0%} of the groups' bytes instead of "
                f"{choice.model_expected:.0%}; ({ex:.0f}, {ey:.0f}) is the point of that "
                "quarter nearest to our centre (any point of it gives the same file)."
            )
    columns.append(
        Column(
            "ours",
            label,
            _center_flags(center),
            displayed(center),
            predicted=predicted,
            center_note=note,
        )
    )
    return columns, notes


#: :func:`attention_center.jxl.group_order.group_side`'s quarters, in words.
_SIDES = ("left", "bottom", "right", "top")


def human_data(source, gt_dir) -> Optional[dict]:
    """The image's human first fixations from a ground-truth build, or ``None``.

    Returns:
      ``{"points": float64 [P, 2] (x, y), "center": (x, y), "source": name}``, displayed
      pixels, from the first source in :data:`PREFERRED_SOURCES` that has the image.
    """
    if gt_dir is None or not (Path(gt_dir) / "index.jsonl").is_file():
        return None
    target = os.path.realpath(source)
    rows = [
        row
        for row in select_records(gt_dir, ("train", "val", "test"))
        if os.path.realpath(resolve_image_path(row)) == target and row.get("points")
    ]
    if not rows:
        return None
    order = {name: i for i, name in enumerate(PREFERRED_SOURCES)}
    row = min(rows, key=lambda r: (order.get(r["source"], len(order)), r["source"]))
    return {
        "points": np.asarray(row["points"], np.float64).reshape(-1, 2),
        "center": tuple(float(v) for v in row["center"]),
        "source": row["source"],
    }
