"""What a person sees while a progressive JPEG XL file arrives: quality over bytes.

The measure (issue 23): at each byte budget (a prefix of the file, as a fraction of it),
the image a progressive decoder shows (``djxl --allow_partial_files``,
:class:`attention_center.jxl.partial.PrefixDecoder`) is compared with the final image,

* **where people look**: the mean of the SSIM map weighted by the human fixation density
  of the image (:func:`fixation_density`: the recorded fixations, each a Gaussian of
  ``sigma`` = 3 % of the image diagonal, about one degree of visual angle in the eye
  tracking sets), not a box around some predicted centre;
* **the whole image**: the plain mean of the SSIM map;

with PSNR beside each (the density-weighted mean squared error). SSIM is the headline:
it is the perceptual metric available here (scikit-image's ``structural_similarity``,
Gaussian window sigma 1.5, on luma), it scores the blurry DC preview of a group that has
not arrived by how much structure it lacks, and it is bounded (1 = final), so curves
average across images; PSNR is unbounded at the final image (capped at
:data:`PSNR_CAP`) and is dominated by a few large errors.

Nothing drawn yet (the prefix is before the first paint) scores 0. The curve's summary is
its area: the mean quality over the budgets from 0 to 100 % of the file
(:func:`area_under_curve`, trapezoids between the sampled budgets), plus the quality at
fixed budgets (:data:`FIXED_BUDGETS`).

Images: ``uint8 [h, w, 3]`` RGB; densities ``float64 [h, w]`` summing to 1; points (x, y)
0-based pixel centres of the displayed image.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Optional

import numpy as np

__all__ = [
    "BUDGETS",
    "FIXED_BUDGETS",
    "PSNR_CAP",
    "QualityCurve",
    "area_under_curve",
    "fixation_density",
    "luma",
    "quality_curve",
    "quality_of",
    "value_at",
]

#: Byte budgets sampled, fractions of the file (0 and 1 are added by the summaries).
BUDGETS: tuple[float, ...] = (
    0.02,
    0.05,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    1.0,
)
#: Budgets reported on their own.
FIXED_BUDGETS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
#: PSNR of identical images, dB (so that curves and their areas are finite).
PSNR_CAP = 60.0
#: Spread of each fixation's Gaussian, a fraction of the image diagonal.
DENSITY_SIGMA = 0.03


def luma(image: np.ndarray) -> np.ndarray:
    """``float64 [h, w]``: Rec. 601 luma of an RGB ``uint8 [h, w, 3]`` image, 0-255."""
    image = np.asarray(image, np.float64)
    if image.ndim == 2:
        return image
    return image[..., :3] @ np.array([0.299, 0.587, 0.114])


def fixation_density(
    points, image_hw, sigma: float = DENSITY_SIGMA, weights: Optional[Sequence[float]] = None
) -> np.ndarray:
    """The human fixation density of an image: a Gaussian around each fixation, normalised.

    Args:
      points: ``[K, 2]`` (x, y) displayed pixels (outside points are dropped).
      image_hw: ``(h, w)``.
      sigma: each Gaussian's standard deviation, a fraction of the image diagonal.
      weights: per point (default 1).
    Returns:
      ``float64 [h, w]`` summing to 1 (uniform when no point falls on the image).
    Cost: linear in pixels (:func:`attention_center.core.density.density_map`, a
    separable Gaussian filter).
    """
    from attention_center.core.density import density_map

    h, w = (int(v) for v in image_hw)
    sigma_px = max(1.0, sigma * float(np.hypot(h, w)))
    density = density_map(points, (h, w), sigma_px, normalize="sum", weights=weights)
    if density.sum() <= 0:  # no point on the image
        return np.full((h, w), 1.0 / (h * w))
    density = density.astype(np.float64)
    return density / density.sum()


def quality_of(shown: Optional[np.ndarray], final: np.ndarray, density: np.ndarray) -> dict:
    """How close what is shown is to the final image, where people look and overall.

    Args:
      shown: ``uint8 [h, w, 3]`` the partial decode, or ``None`` (nothing drawn).
      final: ``uint8 [h, w, 3]`` the full decode.
      density: ``float64 [h, w]`` fixation density (sums to 1).
    Returns:
      ``{"ssim_looked", "ssim_whole", "psnr_looked", "psnr_whole"}``: SSIM (luma) weighted
      by ``density`` and plain; PSNR (dB, RGB, capped at :data:`PSNR_CAP`) likewise. All 0
      when nothing is drawn.
    """
    from skimage.metrics import structural_similarity

    if shown is None:
        return {"ssim_looked": 0.0, "ssim_whole": 0.0, "psnr_looked": 0.0, "psnr_whole": 0.0}
    if shown is final or np.array_equal(shown, final):
        return {
            "ssim_looked": 1.0,
            "ssim_whole": 1.0,
            "psnr_looked": PSNR_CAP,
            "psnr_whole": PSNR_CAP,
        }
    a, b = luma(shown), luma(final)
    _, ssim_map = structural_similarity(
        a,
        b,
        data_range=255.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    error = np.mean((np.asarray(shown, np.float64) - np.asarray(final, np.float64)) ** 2, axis=-1)

    def psnr_of(mse: float) -> float:
        return PSNR_CAP if mse <= 0 else float(min(PSNR_CAP, 10 * np.log10(255.0**2 / mse)))

    return {
        "ssim_looked": float(np.sum(ssim_map * density)),
        "ssim_whole": float(np.mean(ssim_map)),
        "psnr_looked": psnr_of(float(np.sum(error * density))),
        "psnr_whole": psnr_of(float(np.mean(error))),
    }


def area_under_curve(budgets: Sequence[float], values: Sequence[float]) -> float:
    """Mean value over budgets 0..1: trapezoids, with 0 at budget 0 and the last value to 1."""
    x = np.concatenate([[0.0], np.asarray(budgets, np.float64), [1.0]])
    y = np.concatenate([[0.0], np.asarray(values, np.float64), [float(values[-1])]])
    order = np.argsort(x, kind="stable")
    return float(np.trapezoid(y[order], x[order]))


def value_at(budgets: Sequence[float], values: Sequence[float], budget: float) -> float:
    """The curve at ``budget``: the value of the largest sampled budget not above it (what
    a viewer has seen by then; 0 before the first sample)."""
    budgets = np.asarray(budgets, np.float64)
    below = np.nonzero(budgets <= budget + 1e-12)[0]
    return 0.0 if len(below) == 0 else float(np.asarray(values)[below[-1]])


@dataclasses.dataclass
class QualityCurve:
    """One file's quality at each byte budget.

    Attributes:
      budgets: fractions of the file.
      values: ``{metric: [value per budget]}`` (the keys of :func:`quality_of`).
      file_bytes: the file's size.
    """

    budgets: list[float]
    values: dict[str, list[float]]
    file_bytes: int

    def area(self, metric: str = "ssim_looked") -> float:
        return area_under_curve(self.budgets, self.values[metric])

    def at(self, budget: float, metric: str = "ssim_looked") -> float:
        return value_at(self.budgets, self.values[metric], budget)

    def to_json(self) -> dict:
        return {"budgets": self.budgets, "values": self.values, "file_bytes": self.file_bytes}


def quality_curve(
    data: bytes, density: np.ndarray, budgets: Sequence[float] = BUDGETS, work_dir=None
) -> QualityCurve:
    """Decodes each byte budget of a ``.jxl`` file with djxl and scores what it shows.

    Args:
      data: the file's bytes.
      density: ``float64 [h, w]`` of the decoded (displayed) image.
      budgets: fractions of the file, ascending.
      work_dir: scratch folder (default: a temporary one).
    Raises:
      ValueError: djxl cannot decode the whole file, or the density's shape differs.
      DecoderNotFoundError: no djxl.
    """
    import math

    from attention_center.jxl.partial import PrefixDecoder

    with PrefixDecoder(data, work_dir=work_dir, keep=1) as decoder:
        final = decoder.full
        if tuple(density.shape) != tuple(final.shape[:2]):
            raise ValueError(f"density {density.shape} for an image {final.shape[:2]}")
        values: dict[str, list[float]] = {}
        for budget in budgets:
            shown = decoder(int(math.ceil(float(budget) * len(data))))
            for key, value in quality_of(shown, final, density).items():
                values.setdefault(key, []).append(value)
    return QualityCurve([float(b) for b in budgets], values, len(data))
