"""Attention-centre models of every kind behind one interface, and the one loader.

A :class:`Predictor` takes images already fitted into its model frame (see
:func:`attention_center.core.images.resize_with_pad`) and returns centres in that
frame's pixels. :func:`load_predictor` is the only place a model spec becomes a
predictor (the CLI, the Python API, the evaluator, the benchmarks and the Beam pipeline
all call it); loaded models are cached, so ``ac.predict`` in a loop loads once:

* ``None`` or a preset name (``"default"``, ``"large"``, ``"large:keras"``; see
  :mod:`attention_center.presets`): the bundled model, its ``.tflite`` unless a format
  is named;
* a ``.tflite`` file with Google's interface (run by the one TFLite runner,
  :mod:`attention_center.inference.tflite`);
* a ``.keras`` file or a live ``keras.Model``: an
  :class:`~attention_center.models.AttentionCenterModel` (outputs ``{"center",
  "weight_map"}``) or any model whose output is ``[B, 2]``;
* a :class:`Predictor` (returned as is).

Coordinates: (x, y), 0-based pixel centres of the model frame
(:mod:`attention_center.core.frames`).
"""

from __future__ import annotations

import abc
import functools
import json
import os
import threading
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from attention_center.core.errors import PathError
from attention_center.core.files import not_a_file_reason
from attention_center.core.frames import MODEL_FRAME_HW
from attention_center.core.tflite_metadata import read_tflite_metadata
from attention_center.inference.tflite import TFLiteInterfaceError, TFLiteModel, check_num_threads
from attention_center.presets import PresetError, resolve_model

__all__ = [
    "KerasPredictor",
    "ModelLoadError",
    "Predictor",
    "TFLitePredictor",
    "clear_cache",
    "keras_file_problem",
    "load_keras_file",
    "load_predictor",
]


class ModelLoadError(PathError):
    """A model file could not be loaded or does not have the expected interface.

    Attributes:
      path: the model file (or a description of the object).
      reason: one line saying what is wrong.
    """


def _metadata_frame_hw(model_path: Optional[str]) -> Optional[tuple[int, int]]:
    """``frame_hw`` from a ``metadata.json`` beside the model, if it says one."""
    if model_path is None:
        return None
    meta = Path(model_path).with_name("metadata.json")
    if not meta.is_file():
        return None
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        value = data.get("frame_hw") or (data.get("input_shape") or [None, None])[:2]
        if value and all(isinstance(v, int) and v > 0 for v in value):
            return int(value[0]), int(value[1])
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    return None


class Predictor(abc.ABC):
    """A model that maps frames to attention centres.

    Attributes:
      name: a short label (the file name, or the model's name).
      path: the model file, or ``None`` for a live object.
      frame_hw: ``(H, W)`` of the frame the model takes.
      has_weight_map: whether :meth:`predict_frames` returns a weighting map.
    """

    name: str
    path: Optional[str]
    frame_hw: tuple[int, int]
    has_weight_map: bool
    #: The model's metadata (see :mod:`attention_center.core.tflite_metadata`), or ``None``.
    metadata: Optional[dict] = None
    #: The most frames :meth:`predict_frames` gains anything from getting in one call:
    #: ``None``, any number (a batched forward pass); ``1``, it runs frames one at a time,
    #: so a caller holding a batch for it only holds memory
    #: (:func:`~attention_center.inference.prediction.predict_images` then runs each frame
    #: as soon as it is decoded).
    useful_batch_size: Optional[int] = None

    @abc.abstractmethod
    def predict_frames(self, frames: np.ndarray) -> dict:
        """Predicts centres for a batch of frames.

        Args:
          frames: ``float32 [B, H, W, 3]``, RGB in [0, 1], ``(H, W) == frame_hw``.
        Returns:
          ``{"center": float64 [B, 2]`` (x, y) frame pixels,
          ``"weight_map": float32 [B, h, w, 1]`` on the frame grid (stride
          ``H / h``), or ``None`` when the model has none``}``.
        """

    def _check_frames(self, frames) -> np.ndarray:
        frames = np.asarray(frames, np.float32)
        if frames.ndim != 4 or frames.shape[1:] != (*self.frame_hw, 3):
            raise ValueError(
                f"{self.name}: frames must be [B, {self.frame_hw[0]}, "
                f"{self.frame_hw[1]}, 3], got {list(frames.shape)}"
            )
        return frames

    def __repr__(self):
        return (
            f"{type(self).__name__}(name={self.name!r}, frame_hw={self.frame_hw}, "
            f"has_weight_map={self.has_weight_map})"
        )


def _split_outputs(outputs, name: str):
    """Model outputs (dict, list or array) -> (center [B, 2], weight_map [B, h, w, 1] or None)."""
    if isinstance(outputs, dict):
        center = outputs.get("center")
        weight_map = outputs.get("weight_map")
        candidates = list(outputs.values())
    elif isinstance(outputs, (list, tuple)):
        center = weight_map = None
        candidates = list(outputs)
    else:
        center, weight_map, candidates = None, None, [outputs]
    candidates = [np.asarray(c) for c in candidates]
    if center is None:
        center = next((c for c in candidates if c.ndim == 2 and c.shape[-1] == 2), None)
    if weight_map is None:
        weight_map = next((c for c in candidates if c.ndim == 4 and c.shape[-1] == 1), None)
    if center is None:
        raise ModelLoadError(
            name,
            f"the model has no [B, 2] centre output; shapes: {[list(c.shape) for c in candidates]}",
        )
    center = np.asarray(center, np.float64)
    if weight_map is not None:
        weight_map = np.asarray(weight_map, np.float32)
    return center, weight_map


class KerasPredictor(Predictor):
    """A Keras model (``.keras`` file or ``keras.Model``) as a :class:`Predictor`.

    Args:
      model: a ``keras.Model`` taking ``float32 [B, H, W, 3]`` RGB in [0, 1].
      path: the file it came from, if any.
      frame_hw: the frame to use when the model accepts any size (default:
        ``metadata.json`` beside the file, else 480x640).
      batch_size: frames per forward pass. Every pass gets exactly ``batch_size`` frames
        (a short last batch is padded with zero frames, their outputs dropped), so the
        compiled predict step is traced once per model, never retraced for the last batch
        (no ``tf.function retracing`` warnings when several models run in one process).
    """

    def __init__(self, model, path=None, frame_hw=None, batch_size: int = 8):
        self.model = model
        self.path = os.fspath(path) if path is not None else None
        self.name = Path(self.path).name if self.path else model.name
        shape = model.input_shape
        if isinstance(shape, dict):
            shape = next(iter(shape.values()))
        if isinstance(shape, list):
            shape = shape[0]
        if len(shape) != 4 or shape[-1] != 3:
            raise ModelLoadError(
                self.path or self.name, f"input must be [B, H, W, 3], got {list(shape)}"
            )
        model_hw = tuple(shape[1:3])
        if None in model_hw:
            model_hw = tuple(frame_hw or _metadata_frame_hw(self.path) or MODEL_FRAME_HW)
        elif frame_hw is not None and tuple(frame_hw) != model_hw:
            raise ModelLoadError(
                self.path or self.name, f"model frame is {model_hw}, asked for {tuple(frame_hw)}"
            )
        self.frame_hw = (int(model_hw[0]), int(model_hw[1]))
        self.batch_size = max(1, int(batch_size))
        probe = model.output_shape
        self.has_weight_map = (isinstance(probe, dict) and "weight_map" in probe) or (
            isinstance(probe, (list, tuple))
            and any(isinstance(s, (list, tuple)) and len(s) == 4 and s[-1] == 1 for s in probe)
        )

    def _padded(self, chunk: np.ndarray) -> np.ndarray:
        """``float32 [n, H, W, 3]`` -> ``[batch_size, H, W, 3]``, zero frames after the ``n``."""
        missing = self.batch_size - len(chunk)
        if missing <= 0:
            return chunk
        return np.concatenate([chunk, np.zeros((missing, *chunk.shape[1:]), chunk.dtype)])

    def predict_frames(self, frames):
        frames = self._check_frames(frames)
        centers, maps = [], []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start : start + self.batch_size]
            outputs = self.model.predict_on_batch(self._padded(chunk))
            center, weight_map = _split_outputs(outputs, self.path or self.name)
            centers.append(center[: len(chunk)])
            maps.append(None if weight_map is None else weight_map[: len(chunk)])
        if not centers:
            return {"center": np.zeros((0, 2)), "weight_map": None}
        weight_map = None if any(m is None for m in maps) else np.concatenate(maps)
        return {"center": np.concatenate(centers), "weight_map": weight_map}


class TFLitePredictor(Predictor):
    """A ``.tflite`` model with Google's interface
    (:class:`~attention_center.inference.tflite.TFLiteModel`).

    Frames are run one at a time (batch 1, what the file declares; the int8 model cannot
    be resized to a larger batch), so :attr:`useful_batch_size` is 1. The metadata
    ``python -m export`` stores with the model (input size and preprocessing,
    normalization, model version, training data, metrics, quantization, parity; embedded
    in the flatbuffer or ``<file>.json`` beside it) is read into :attr:`metadata`
    (``None`` for Google's model).

    Args:
      path: the ``.tflite`` file.
      num_threads: interpreter threads (default: the number of CPUs).
      runtime: ``"auto"`` (ai-edge-litert, else tf.lite), ``"litert"`` or ``"tf"``.
    """

    useful_batch_size = 1

    def __init__(self, path, num_threads: Optional[int] = None, runtime: str = "auto"):
        self.path = os.fspath(path)
        self.name = Path(self.path).name
        try:
            self.runner = TFLiteModel(self.path, runtime=runtime, num_threads=num_threads)
        except TFLiteInterfaceError as error:
            raise ModelLoadError(self.path, str(error)) from error
        except ImportError as error:  # pragma: no cover - depends on the install
            raise ModelLoadError(
                self.path,
                "running a .tflite model needs the ai-edge-litert "
                "package (pip install ai-edge-litert)",
            ) from error
        self.frame_hw = self.runner.frame_hw
        self.has_weight_map = self.runner.has_weight_map
        self.metadata = self._read_metadata()
        self._lock = threading.Lock()  # one interpreter: one invoke at a time

    def _read_metadata(self) -> Optional[dict]:
        """The exporter's metadata (embedded, else ``<file>.json``), checked against the file.

        Raises:
          ModelLoadError: the metadata is unreadable, or its input shape is not the model's.
        """
        try:
            metadata = read_tflite_metadata(self.path)
        except (OSError, ValueError) as error:
            raise ModelLoadError(self.path, f"unreadable metadata: {error}") from error
        if metadata is None:
            return None
        declared = (metadata.get("input") or {}).get("shape")
        if declared is not None and [int(v) for v in declared] != self.runner.input_shape:
            raise ModelLoadError(
                self.path,
                f"metadata says input {list(declared)} but the "
                f"model's input is {self.runner.input_shape}",
            )
        return metadata

    def predict_frames(self, frames):
        frames = self._check_frames(frames)
        centers, maps = [], []
        with self._lock:
            for frame in frames:
                center, weight_map = self.runner.run(frame)
                centers.append(center)
                if weight_map is not None:
                    maps.append(weight_map)
        center = np.stack(centers) if centers else np.zeros((0, 2))
        weight_map = np.stack(maps) if maps else None
        return {"center": center, "weight_map": weight_map}


def keras_file_problem(path: Path) -> Optional[str]:
    """What makes ``path`` no ``.keras`` file before Keras reads it (whose own message for
    a file that is not a zip archive is a misleading "File not found"); ``None``: none."""
    if path.stat().st_size == 0:
        return "not a valid .keras file: empty (0 bytes)"
    if path.suffix.lower() == ".keras" and not zipfile.is_zipfile(path):
        return "not a valid .keras file: not a zip archive (corrupt, truncated, or another format)"
    return None


def load_keras_file(path: Path):
    """The Keras model in the ``.keras`` file ``path``, or :class:`ModelLoadError` naming the
    file and what is wrong with it (empty, not a zip archive, not loadable)."""
    from attention_center.models import load_model

    problem = keras_file_problem(path)
    if problem:
        raise ModelLoadError(path, problem)
    try:
        return load_model(path)
    except Exception as error:  # Keras raises many types for a bad file
        message = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        if isinstance(error, FileNotFoundError) or "not found" in message.lower():
            reason = "not a valid .keras file (corrupt or truncated zip archive?)"
        else:
            reason = "cannot load as a Keras model"
        raise ModelLoadError(path, f"{reason}: {type(error).__name__}: {message}") from error


@functools.lru_cache(maxsize=8)
def _cached_file_predictor(
    path: str,
    size: int,
    mtime_ns: int,
    num_threads: Optional[int],
    batch_size: int,
    frame_hw: Optional[tuple],
    runtime: str,
) -> Predictor:
    del size, mtime_ns  # part of the key: a changed file is loaded again
    suffix = Path(path).suffix.lower()
    if suffix == ".tflite":
        return TFLitePredictor(path, num_threads=num_threads, runtime=runtime)
    from attention_center.models.saving import float32_model

    model = float32_model(load_keras_file(Path(path)))  # a mixed-precision file: float32 on CPU
    return KerasPredictor(model, path=path, frame_hw=frame_hw, batch_size=batch_size)


def clear_cache() -> None:
    """Forgets the models :func:`load_predictor` has loaded."""
    _cached_file_predictor.cache_clear()


def load_predictor(
    spec=None,
    num_threads: Optional[int] = None,
    batch_size: int = 8,
    frame_hw=None,
    runtime: str = "auto",
    cache: bool = True,
) -> Predictor:
    """Loads a model spec as a :class:`Predictor` (cached by file, size and mtime).

    Args:
      spec: ``None`` (the default preset), a preset name (``"large"``,
        ``"default:keras"``), a ``.keras`` or ``.tflite`` path, a ``keras.Model``, or a
        :class:`Predictor` (returned as is).
      num_threads: TFLite interpreter threads (default: the number of CPUs).
      batch_size: frames per Keras forward pass (a TFLite model runs one frame at a time).
      frame_hw: frame for Keras models that accept any input size.
      runtime: TFLite runtime (``"auto"``, ``"litert"``, ``"tf"``).
      cache: reuse a predictor already loaded from the same file with the same settings.
    Returns:
      a :class:`Predictor`.
    Raises:
      ModelLoadError: unknown preset, missing file, unknown suffix, unreadable model, or
        an interface that is not image -> ``[B, 2]`` centre.
      ValueError: ``num_threads`` is not ``None`` or an int >= 1 (checked before any file).
    """
    check_num_threads(num_threads)
    if isinstance(spec, Predictor):
        return spec
    if spec is not None and not isinstance(spec, (str, os.PathLike)):
        import keras

        if not isinstance(spec, keras.Model):
            raise ModelLoadError(
                repr(spec)[:80],
                "not a model: expected a preset name, a path, a keras.Model or a Predictor",
            )
        return KerasPredictor(spec, frame_hw=frame_hw, batch_size=batch_size)
    try:
        path = resolve_model(spec)
    except PresetError as error:
        label = os.fspath(spec) if spec is not None else "default"
        raise ModelLoadError(label if label.strip() else repr(label), str(error)) from error
    if not path.is_file():
        reason = not_a_file_reason(path) or "not a regular file"
        raise ModelLoadError(
            path,
            {
                "no such file": "no such model file",
                "is a directory": "is a directory, not a model file",
            }.get(reason, reason),
        )
    suffix = path.suffix.lower()
    if suffix not in (".tflite", ".keras", ".h5"):
        raise ModelLoadError(
            path, f"unknown model type {suffix or '(no suffix)'!r}: expected .keras or .tflite"
        )
    stat = path.stat()
    key = (
        os.fspath(path.resolve()),
        stat.st_size,
        stat.st_mtime_ns,
        num_threads,
        max(1, int(batch_size)),
        tuple(frame_hw) if frame_hw else None,
        runtime,
    )
    if not cache:
        return _cached_file_predictor.__wrapped__(*key)
    return _cached_file_predictor(*key)
