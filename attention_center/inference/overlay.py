"""Pictures of a prediction: the image with its centre marked and the weighting map as a heatmap.

Coordinates: (x, y), 0-based pixel centres of the image as displayed (see
:mod:`attention_center.core.frames`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw

from attention_center.core.atomic import atomic_path
from attention_center.core.frames import FrameTransform

__all__ = ["heat_colors", "overlay_image", "weight_map_on_image", "write_overlay"]

# A perceptually ordered dark -> bright ramp (close to matplotlib's "inferno"), RGB 0-255.
_HEAT_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_HEAT_RGB = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float64
)


def heat_colors(values: np.ndarray) -> np.ndarray:
    """``float [...]`` in [0, 1] -> ``float64 [..., 3]`` RGB in [0, 255], dark to bright."""
    values = np.clip(np.asarray(values, np.float64), 0.0, 1.0)
    return np.stack([np.interp(values, _HEAT_STOPS, _HEAT_RGB[:, c]) for c in range(3)], -1)


def weight_map_on_image(weight_map: np.ndarray, transform: FrameTransform) -> np.ndarray:
    """Resamples a frame-grid weighting map onto the original image, scaled to [0, 1].

    The map covers the whole model frame at some stride; each original pixel
    centre is mapped into the frame with the image's :class:`FrameTransform`
    and the map is sampled there bilinearly
    (:func:`attention_center.metrics.saliency.map_to_original`, the same
    resampling the evaluation uses), so the padding is cut off exactly.

    Args:
      weight_map: ``float [h', w']`` (or ``[h', w', 1]``) on the frame grid,
        ``frame_hw / (h', w')`` frame pixels per cell.
      transform: the image's :class:`FrameTransform`.
    Returns:
      ``float32 [h, w]`` (the original image's size, as displayed), scaled so
      that its minimum is 0 and its maximum 1 (all zeros for a constant map).
    """
    from attention_center.metrics.saliency import map_to_original

    on_image = map_to_original(weight_map, transform).astype(np.float32)
    low, high = float(on_image.min()), float(on_image.max())
    if high - low < 1e-12:
        return np.zeros_like(on_image)
    return (on_image - low) / (high - low)


def overlay_image(
    image: np.ndarray, center, heat: Optional[np.ndarray] = None, heat_opacity: float = 0.6
) -> np.ndarray:
    """The image with the centre marked and, if given, a heatmap blended over it.

    Args:
      image: ``uint8 [h, w, 3]`` RGB, as displayed.
      center: (x, y), 0-based pixel centres of ``image``.
      heat: ``float [h, w]`` in [0, 1] (e.g. :func:`weight_map_on_image`), or ``None``.
      heat_opacity: opacity of the heatmap where ``heat == 1`` (it fades with the value).
    Returns:
      ``uint8 [h, w, 3]`` RGB.
    """
    picture = np.asarray(image, np.float64)
    if heat is not None:
        heat = np.asarray(heat, np.float64)
        if heat.shape != picture.shape[:2]:
            raise ValueError(f"heat is {heat.shape}, image is {picture.shape[:2]}")
        alpha = heat_opacity * heat[..., None]
        picture = picture * (1.0 - alpha) + heat_colors(heat) * alpha
    out = Image.fromarray(np.clip(picture + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    height, width = picture.shape[:2]
    x, y = float(center[0]), float(center[1])
    radius = max(3.0, 0.03 * min(height, width))
    line = max(1, int(round(radius / 4)))
    for color, grow in (((0, 0, 0), line), ((255, 255, 255), 0)):  # dark halo, then white
        r = radius + grow
        draw.ellipse([x - r, y - r, x + r, y + r], outline=color, width=line + grow)
        arm = 2.2 * radius + grow
        draw.line([x - arm, y, x - r, y], fill=color, width=line + grow)
        draw.line([x + r, y, x + arm, y], fill=color, width=line + grow)
        draw.line([x, y - arm, x, y - r], fill=color, width=line + grow)
        draw.line([x, y + r, x, y + arm], fill=color, width=line + grow)
        dot = line + grow
        draw.ellipse([x - dot, y - dot, x + dot, y + dot], fill=color)
    return np.asarray(out)


def write_overlay(path, picture: np.ndarray) -> Path:
    """Writes a ``uint8 [h, w, 3]`` picture as PNG, atomically."""
    path = Path(path)
    with atomic_path(path) as temporary:
        Image.fromarray(np.asarray(picture, np.uint8)).save(temporary, format="PNG")
    return path
