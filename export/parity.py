"""Parity: the TFLite model's centres against the Keras model's, on real photos.

The figure is the distance between the two centres, in pixels of the model
frame, and as a fraction of the frame's diagonal (800 px at 640x480).

Thresholds (:data:`THRESHOLDS`, largest allowed distance over the parity images):

* ``float32``: 0.00125 of the diagonal (1 px at 640x480). The same graph in
  float32; only summation order differs (measured: 0.00 px).
* ``float16``: 0.0025 (2 px). Weights rounded to float16 (relative error
  2**-11) move a centre by about a pixel on a peaked weighting map.
* ``dynamic``: 0.02 (16 px). Eight-bit weights are expected to move the
  centre by a few pixels.
* ``int8``: 0.03 (24 px). Eight-bit activations too. Measured on model 1.0.0
  (MobileNetV2, 50 OSIE photos): mean 6.1 px (0.0076), max 20.3 px (0.025),
  while its error against people on the held-out test split stays 0.0986 of
  the diagonal against the Keras model's 0.0983; on model 3.4 (the bundled
  default): mean 3.28 px, max 10.35 px (0.0129). Both limits are
  far below the models' error against people (about 0.1 of the diagonal) and
  small against JPEG XL's 256x256 groups, whose order is all the centre decides.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from attention_center.inference.tflite import google_centers, make_interpreter

THRESHOLDS = {"float32": 0.00125, "float16": 0.0025, "dynamic": 0.02, "int8": 0.03}


def diagonal(frame_hw: Sequence[int]) -> float:
    """Length of the frame's diagonal in pixels (800 for 480x640)."""
    return math.hypot(float(frame_hw[0]), float(frame_hw[1]))


@dataclasses.dataclass
class ParityReport:
    """TFLite-vs-Keras centre distances over a set of images.

    Attributes:
      quantization: the TFLite model's quantization.
      num_images: images compared.
      max_px, mean_px: largest and mean distance, pixels of the frame.
      frame_hw: ``(H, W)`` of the frame.
      threshold: largest allowed ``max_px`` as a fraction of the diagonal.
      worst_image: the image with the largest distance.
      p95_px: the 95th percentile of the distances (linear interpolation), pixels
        of the frame: a reading of the tail that one photo does not decide, unlike
        ``max_px`` (the threshold still judges ``max_px``).
    """

    quantization: str
    num_images: int
    max_px: float
    mean_px: float
    frame_hw: tuple[int, int]
    threshold: float
    worst_image: str = ""
    p95_px: float = math.nan

    @property
    def max_fraction(self) -> float:
        return self.max_px / diagonal(self.frame_hw)

    @property
    def mean_fraction(self) -> float:
        return self.mean_px / diagonal(self.frame_hw)

    @property
    def passed(self) -> bool:
        return self.num_images > 0 and self.max_fraction <= self.threshold

    def line(self) -> str:
        """One printable line, e.g. ``int8: max 3.1 px (0.0039 of the diagonal) ...``."""
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"parity {self.quantization}: max {self.max_px:.2f} px "
            f"({self.max_fraction:.4f} of the diagonal), mean {self.mean_px:.2f} px "
            f"({self.mean_fraction:.4f}), 95th percentile {self.p95_px:.2f} px "
            f"over {self.num_images} images; "
            f"threshold {self.threshold:.4f} ({self.threshold * diagonal(self.frame_hw):.1f} px)"
            f": {verdict}"
        )

    def to_dict(self) -> dict:
        return {
            "quantization": self.quantization,
            "num_images": self.num_images,
            "max_px": round(self.max_px, 3),
            "mean_px": round(self.mean_px, 3),
            "max_fraction_of_diagonal": round(self.max_fraction, 5),
            "mean_fraction_of_diagonal": round(self.mean_fraction, 5),
            "p95_px": round(self.p95_px, 3),
            "p95_fraction_of_diagonal": round(self.p95_px / diagonal(self.frame_hw), 5),
            "threshold_fraction_of_diagonal": self.threshold,
            "frame_hw": list(self.frame_hw),
            "worst_image": self.worst_image,
            "passed": self.passed,
        }


def keras_centers(model, frames: np.ndarray, batch_size: int = 4) -> np.ndarray:
    """``float32 [N, H, W, 3]`` frames -> the Keras model's ``float64 [N, 2]`` centres."""
    if len(frames) == 0:
        return np.zeros((0, 2))
    outputs = model.predict(np.asarray(frames, np.float32), batch_size=batch_size, verbose=0)
    return np.asarray(outputs["center"], np.float64)


def parity_report(
    tflite_model,
    quantization: str,
    frames: np.ndarray,
    reference: np.ndarray,
    names: Sequence[str] = (),
    threshold: float | None = None,
    runtime: str = "auto",
) -> ParityReport:
    """Runs the TFLite model (as Google's script does) and compares with reference centres.

    Args:
      tflite_model: ``.tflite`` bytes or path.
      quantization: its quantization (chooses the default threshold).
      frames: ``float32 [N, H, W, 3]`` parity frames.
      reference: ``[N, 2]`` the Keras model's centres on the same frames.
      names: image names, for ``worst_image``.
      threshold: override of :data:`THRESHOLDS`.
      runtime: ``"auto"``, ``"litert"`` or ``"tf"``.
    """
    interpreter = make_interpreter(tflite_model, runtime=runtime)
    centers = google_centers(interpreter, frames)
    distances = np.linalg.norm(centers - np.asarray(reference, np.float64), axis=-1)
    worst = int(np.argmax(distances)) if len(distances) else -1
    return ParityReport(
        quantization=quantization,
        num_images=int(len(distances)),
        max_px=float(distances.max()) if len(distances) else math.nan,
        mean_px=float(distances.mean()) if len(distances) else math.nan,
        frame_hw=(int(frames.shape[1]), int(frames.shape[2])),
        threshold=THRESHOLDS[quantization] if threshold is None else float(threshold),
        worst_image=str(names[worst]) if names and worst >= 0 else "",
        p95_px=float(np.percentile(distances, 95)) if len(distances) else math.nan,
    )
