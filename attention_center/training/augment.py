"""Augmentations that keep the attention-centre target right (numpy, any backend).

Each takes a frame (``uint8 [H, W, 3]``) and points (``float [N, 2]`` (x, y),
0-based pixel centres of that frame; row 0 is the centre, the rest are the
kept fixations) and returns both, moved together. Geometric moves go through
:func:`attention_center.core.frames.frame_transform`, the project's one transform.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageEnhance

from attention_center.core.frames import frame_transform


def resize_frame(frame: np.ndarray, points: np.ndarray, out_hw, box=None):
    """Crops ``box`` = (top, left, height, width) out of the frame and resizes it to ``out_hw``.

    The box should have the output's aspect ratio (otherwise the crop is
    padded, exactly as resize-with-pad). Returns ``(uint8 [h, w, 3], float32 [N, 2])``.
    """
    height, width = frame.shape[:2]
    top, left, box_h, box_w = box if box is not None else (0, 0, height, width)
    crop = frame[top : top + box_h, left : left + box_w]
    transform = frame_transform((box_h, box_w), out_hw)
    out_h, out_w = int(out_hw[0]), int(out_hw[1])
    rh, rw = int(transform.resized_hw[0]), int(transform.resized_hw[1])
    if (rh, rw) == (box_h, box_w):
        resized = crop
    else:
        resized = np.asarray(Image.fromarray(crop).resize((rw, rh), Image.Resampling.BICUBIC))
    if (rh, rw) != (out_h, out_w):
        padded = np.zeros((out_h, out_w, 3), np.uint8)
        padded[
            int(transform.pad_y) : int(transform.pad_y) + rh,
            int(transform.pad_x) : int(transform.pad_x) + rw,
        ] = resized
        resized = padded
    moved = np.asarray(points, np.float64) - np.array([left, top], np.float64)
    return resized, transform.points_to_frame(moved)


def flip_horizontal(frame: np.ndarray, points: np.ndarray):
    """Mirrors the frame left-right: ``x -> W - 1 - x``."""
    width = frame.shape[1]
    flipped = np.asarray(points, np.float32).copy()
    flipped[:, 0] = (width - 1) - flipped[:, 0]
    return frame[:, ::-1], flipped


def random_crop_box(rng: np.random.Generator, frame_hw, center_xy, min_scale: float):
    """A random box of the frame's aspect ratio, side ``scale`` in [min_scale, 1], containing the
    centre.

    Returns ``(top, left, height, width)`` in frame pixels.
    """
    height, width = frame_hw
    scale = rng.uniform(min_scale, 1.0)
    box_h, box_w = max(1, int(round(height * scale))), max(1, int(round(width * scale)))
    cx, cy = float(center_xy[0]), float(center_xy[1])
    # Keep the centre inside the box with a margin of 10% of the box.
    lo_x = int(np.clip(np.ceil(cx - 0.9 * box_w), 0, width - box_w))
    hi_x = int(np.clip(np.floor(cx - 0.1 * box_w), 0, width - box_w))
    lo_y = int(np.clip(np.ceil(cy - 0.9 * box_h), 0, height - box_h))
    hi_y = int(np.clip(np.floor(cy - 0.1 * box_h), 0, height - box_h))
    left = int(rng.integers(min(lo_x, hi_x), max(lo_x, hi_x) + 1))
    top = int(rng.integers(min(lo_y, hi_y), max(lo_y, hi_y) + 1))
    return top, left, box_h, box_w


def color_jitter(rng: np.random.Generator, frame: np.ndarray, strength: float = 0.2) -> np.ndarray:
    """Random brightness, contrast and saturation (factors in 1 +- strength); points unchanged."""
    image = Image.fromarray(frame)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhancer(image).enhance(float(rng.uniform(1 - strength, 1 + strength)))
    return np.asarray(image)


def augment(
    rng: np.random.Generator,
    frame: np.ndarray,
    points: np.ndarray,
    out_hw,
    flip: bool = True,
    min_scale: float = 0.8,
    jitter: float = 0.2,
):
    """Random crop-and-scale, horizontal flip and colour jitter, then resize to ``out_hw``.

    Args:
      rng: numpy Generator (seeded by the caller for reproducibility).
      frame: ``uint8 [H, W, 3]``, the image in its model frame.
      points: ``[N, 2]`` (x, y) frame pixels; row 0 must be the centre.
      out_hw: output ``(h, w)``.
    Returns:
      ``(uint8 [h, w, 3], float32 [N, 2])``.
    """
    box = None
    if min_scale < 1.0:
        box = random_crop_box(rng, frame.shape[:2], points[0], min_scale)
    frame, points = resize_frame(frame, points, out_hw, box)
    if flip and rng.random() < 0.5:
        frame, points = flip_horizontal(frame, points)
    if jitter > 0:
        frame = color_jitter(rng, np.ascontiguousarray(frame), jitter)
    return np.ascontiguousarray(frame), points
