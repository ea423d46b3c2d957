"""Activation ranges for int8: TFLite's calibrated min/max, or the ranges of least squared error.

TFLite calibrates each activation tensor to the smallest and largest value it saw on the
calibration frames (``minmax``). One rare large value then spreads the tensor's 255 int8
steps over a range most values never reach. ``mse`` instead gives each tensor the range
``[a, b]`` (``a <= 0 <= b``, within the calibrated min/max) that minimizes the expected
squared error of its int8 values over the calibration frames: the values clipped outside
``[a, b]`` plus the rounding error inside it (``step**2 / 12``, ``step = (b - a) / 255``),
computed from a histogram of the tensor's values (the "MSE" calibration of TensorRT and
PyTorch's ``HistogramObserver``). On the bundled default model it lowers the mean
int8-vs-float centre shift by a quarter to a third on held-out images of every kind
(docs/export.md, "Activation ranges").

The calibrated model (``QuantizationDebugger.calibrated_model``: float ops, with each
activation tensor's min/max in its quantization parameters) is run in float on the same
frames to build the histograms; the narrowed min/max are written back before quantization.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from attention_center.inference.tflite import make_interpreter
from export import flatbuffer
from export.errors import ExportUsageError

#: ``--int8_ranges`` values.
RANGES = ("minmax", "mse")
#: Histogram bins per tensor, over its calibrated [min, max].
BINS = 4096
#: int8 steps across a range.
STEPS = 255


def check_ranges(value: str) -> str:
    """``value`` if it is one of :data:`RANGES`, else :class:`ExportUsageError` naming the flag."""
    if value not in RANGES:
        raise ExportUsageError(f"--int8_ranges must be one of {', '.join(RANGES)}, got {value!r}")
    return value


def mse_range(
    counts: np.ndarray, low: float, high: float, candidates: int = 99
) -> tuple[float, float]:
    """The range ``(a, b)`` of least expected squared int8 error for a histogram.

    Args:
      counts: ``[bins]`` value counts over ``[low, high]`` (equal-width bins).
      low, high: the calibrated min and max of the tensor.
      candidates: ends tried per side: ``low * f`` and ``high * f`` for ``f`` evenly
        spaced in ``[0.02, 1]`` (a side that does not cross zero keeps its end).
    Returns:
      ``(a, b)`` with ``low <= a`` and ``b <= high``; ``(low, high)`` for an empty
      histogram or an empty range.
    """
    counts = np.asarray(counts, np.float64)
    if not high > low or counts.sum() <= 0:
        return float(low), float(high)
    edges = np.linspace(low, high, len(counts) + 1)
    x = (edges[:-1] + edges[1:]) / 2
    s0, s1, s2 = np.cumsum(counts), np.cumsum(counts * x), np.cumsum(counts * x * x)
    t0, t1, t2 = s0[-1], s1[-1], s2[-1]
    fractions = np.linspace(0.02, 1.0, candidates)
    lows = low * fractions if low < 0 else np.array([low])
    highs = high * fractions if high > 0 else np.array([high])
    # Per candidate b: the count and moments of the values at or below it.
    kb = np.searchsorted(x, highs, side="right") - 1
    b0 = np.where(kb >= 0, s0[kb], 0.0)
    b1 = np.where(kb >= 0, s1[kb], 0.0)
    b2 = np.where(kb >= 0, s2[kb], 0.0)
    above = (t2 - b2) - 2 * highs * (t1 - b1) + highs * highs * (t0 - b0)
    best = (np.inf, float(low), float(high))
    for a in lows:
        ka = np.searchsorted(x, a) - 1  # the bins whose values lie below a
        a0, a1, a2 = (s0[ka], s1[ka], s2[ka]) if ka >= 0 else (0.0, 0.0, 0.0)
        below = a0 * a * a - 2 * a * a1 + a2
        inside = b0 - a0
        # The int8 range always holds zero (TFLite nudges it so), whatever the data's.
        steps = (np.maximum(highs, 0.0) - min(a, 0.0)) / STEPS
        error = below + above + inside * steps**2 / 12
        j = int(np.argmin(error))
        if error[j] < best[0]:
            best = (float(error[j]), float(a), float(highs[j]))
    return best[1], best[2]


def _activation_tensors(model) -> list[int]:
    """Indices of the tensors with one calibrated min and max (the activations)."""
    found = []
    for i, tensor in enumerate(model.subgraphs[0].tensors):
        quantization = tensor.quantization
        if quantization is None or quantization.min is None or quantization.max is None:
            continue
        if len(quantization.min) == 1 and len(quantization.max) == 1:
            found.append(i)
    return found


def activation_histograms(
    calibrated: bytes, frames: Iterable[np.ndarray], bins: int = BINS
) -> dict[int, tuple[float, float, np.ndarray]]:
    """Histograms of each activation tensor of a calibrated model over ``frames``.

    Args:
      calibrated: the calibrated (float) model's bytes.
      frames: ``float32 [H, W, 3]`` frames (the calibration frames).
      bins: bins per tensor, over its calibrated ``[min, max]``.
    Returns:
      tensor index -> ``(min, max, counts [bins])``.
    """
    model = flatbuffer.read_model(calibrated)
    tensors = model.subgraphs[0].tensors
    ranges = {
        i: (float(tensors[i].quantization.min[0]), float(tensors[i].quantization.max[0]))
        for i in _activation_tensors(model)
    }
    # Every intermediate tensor of one frame is kept, which is what the histograms read
    # (tens of MB for the bundled model).
    interpreter = make_interpreter(calibrated, runtime="litert", preserve_all_tensors=True)
    image = interpreter.get_input_details()[0]["index"]
    counts = {i: np.zeros(bins) for i in ranges}
    for frame in frames:
        interpreter.set_tensor(image, np.asarray(frame, np.float32)[None])
        interpreter.invoke()
        for i, (low, high) in ranges.items():
            if high > low:
                counts[i] += np.histogram(interpreter.get_tensor(i), bins, (low, high))[0]
    return {i: (low, high, counts[i]) for i, (low, high) in ranges.items()}


def with_mse_ranges(
    calibrated: bytes, frames: Callable[[], Iterable[np.ndarray]], bins: int = BINS
) -> bytes:
    """A calibrated model with each activation's range narrowed by :func:`mse_range`.

    Args:
      calibrated: the calibrated model's bytes (TFLite's min/max).
      frames: a callable returning the calibration frames (a fresh iterable per call).
      bins: histogram bins per tensor.
    Returns:
      The model's bytes with the new min/max (each range still contains 0).
    """
    model = flatbuffer.read_model(calibrated)
    tensors = model.subgraphs[0].tensors
    for i, (low, high, counts) in activation_histograms(calibrated, frames(), bins).items():
        a, b = mse_range(counts, low, high)
        tensors[i].quantization.min = [min(max(a, low), 0.0)]
        tensors[i].quantization.max = [max(min(b, high), 0.0)]
    return flatbuffer.write_model(model)
