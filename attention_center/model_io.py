"""Loading attention-centre models behind one predictor interface.

A :class:`Predictor` takes images already fitted into its model frame (see
:func:`attention_center.image.resize_with_pad`) and returns centres in that
frame's pixels. Three kinds of model load into one:

* a ``.keras`` file (or a live ``keras.Model``), e.g. an
  :class:`~attention_center.models.AttentionCenterModel` (outputs
  ``{"center", "weight_map"}``) or any model whose output is ``[B, 2]``;
* a ``.tflite`` file with Google's interface: a float32 ``[1, H, W, 3]`` RGB
  input in [0, 1] named like ``image`` (Google's is ``image:0``; any other
  inputs, such as Google's unused string ``filename:0``, are left alone), an
  output ``[1, 2]`` = (x, y) frame pixels, and optionally a ``[1, h, w, 1]``
  weighting map. Run with ``ai_edge_litert``;
* ``None``: the bundled default model (:func:`default_model_path`).

Coordinates: (x, y), 0-based pixel centres of the model frame, as in
:mod:`attention_center.image`.
"""

from __future__ import annotations

import abc
import json
import os
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = [
    "DEFAULT_FRAME_HW",
    "DEFAULT_MODEL_DIR",
    "KerasPredictor",
    "ModelLoadError",
    "Predictor",
    "TFLitePredictor",
    "default_model_path",
    "default_model_paths",
    "load_predictor",
]

#: Frame of Google's model and ours, ``(H, W)``; used when a model accepts any size.
DEFAULT_FRAME_HW = (480, 640)

#: Where the bundled default model lives (``model.keras``, ``model.tflite``, ``metadata.json``).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "default_model"


class ModelLoadError(ValueError):
    """A model file could not be loaded or does not have the expected interface.

    Attributes:
      path: the model file (or a description of the object).
      reason: one line saying what is wrong.
    """

    def __init__(self, path, reason: str):
        self.path = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def default_model_paths() -> dict[str, Path]:
    """The bundled default model's files, whether or not they exist yet.

    Returns:
      ``{"keras": .../model.keras, "tflite": .../model.tflite,
      "metadata": .../metadata.json}`` under :data:`DEFAULT_MODEL_DIR`.
    """
    return {"keras": DEFAULT_MODEL_DIR / "model.keras",
            "tflite": DEFAULT_MODEL_DIR / "model.tflite",
            "metadata": DEFAULT_MODEL_DIR / "metadata.json"}


def default_model_path(kind: str = "auto") -> Path:
    """The bundled default model file.

    Args:
      kind: ``"tflite"``, ``"keras"`` or ``"metadata"`` for that file, or
        ``"auto"``: ``model.keras`` (the model itself, run batched) when
        present, else ``model.tflite`` (the exported copy, which needs only
        ``ai_edge_litert``).
    Returns:
      the path (for a named ``kind`` it may not exist).
    Raises:
      ModelLoadError: ``kind="auto"`` and neither file exists.
    """
    paths = default_model_paths()
    if kind != "auto":
        if kind not in paths:
            raise ValueError(f"kind must be auto, {', '.join(paths)}; got {kind!r}")
        return paths[kind]
    for name in ("keras", "tflite"):
        if paths[name].is_file():
            return paths[name]
    raise ModelLoadError(DEFAULT_MODEL_DIR,
                         "no bundled default model is installed (expected model.keras or "
                         "model.tflite here); pass a model file (.keras or .tflite): "
                         "--model M on the command line, model=M in Python")


def _metadata_frame_hw(model_path: Optional[Path]) -> Optional[tuple[int, int]]:
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
    #: The model's metadata (see :mod:`attention_center.tflite_metadata`), or ``None``.
    metadata: Optional[dict] = None

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
            raise ValueError(f"{self.name}: frames must be [B, {self.frame_hw[0]}, "
                             f"{self.frame_hw[1]}, 3], got {list(frames.shape)}")
        return frames

    def __repr__(self):
        return (f"{type(self).__name__}(name={self.name!r}, frame_hw={self.frame_hw}, "
                f"has_weight_map={self.has_weight_map})")


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
        raise ModelLoadError(name, "the model has no [B, 2] centre output; shapes: "
                             f"{[list(c.shape) for c in candidates]}")
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
      batch_size: frames per forward pass.
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
            raise ModelLoadError(self.path or self.name,
                                 f"input must be [B, H, W, 3], got {list(shape)}")
        model_hw = tuple(shape[1:3])
        if None in model_hw:
            model_hw = tuple(frame_hw or _metadata_frame_hw(self.path) or DEFAULT_FRAME_HW)
        elif frame_hw is not None and tuple(frame_hw) != model_hw:
            raise ModelLoadError(self.path or self.name,
                                 f"model frame is {model_hw}, asked for {tuple(frame_hw)}")
        self.frame_hw = (int(model_hw[0]), int(model_hw[1]))
        self.batch_size = max(1, int(batch_size))
        probe = model.output_shape
        self.has_weight_map = (
            (isinstance(probe, dict) and "weight_map" in probe)
            or (isinstance(probe, (list, tuple)) and any(
                isinstance(s, (list, tuple)) and len(s) == 4 and s[-1] == 1 for s in probe)))

    def predict_frames(self, frames):
        frames = self._check_frames(frames)
        centers, maps = [], []
        for start in range(0, len(frames), self.batch_size):
            outputs = self.model.predict_on_batch(frames[start:start + self.batch_size])
            center, weight_map = _split_outputs(outputs, self.path or self.name)
            centers.append(center)
            maps.append(weight_map)
        if not centers:
            return {"center": np.zeros((0, 2)), "weight_map": None}
        weight_map = None if any(m is None for m in maps) else np.concatenate(maps)
        return {"center": np.concatenate(centers), "weight_map": weight_map}


class TFLitePredictor(Predictor):
    """A ``.tflite`` model with Google's interface, run by ``ai_edge_litert``.

    The image input is the input whose name contains ``"image"`` (Google's
    ``image:0``, our exporter's ``image``), else the only float32 4-D input.
    Other inputs (Google's unused string ``filename:0``) are not fed: the
    interpreter runs without them. The centre is the ``[1, 2]`` output; a
    ``[1, h, w, 1]`` output, if any, is the weighting map. Frames are run one
    at a time (batch 1, what the file declares).

    The metadata ``python -m export`` stores with the model (input size and
    preprocessing, normalization, model version, training data, metrics,
    quantization, parity; embedded in the flatbuffer or ``<file>.json``
    beside it) is read into :attr:`metadata` (``None`` for Google's model).

    Args:
      path: the ``.tflite`` file.
      num_threads: interpreter threads (default: the number of CPUs).
    """

    def __init__(self, path, num_threads: Optional[int] = None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as error:  # pragma: no cover - depends on the install
            raise ModelLoadError(path, "running a .tflite model needs the ai-edge-litert "
                                 "package (pip install ai-edge-litert)") from error
        self.path = os.fspath(path)
        self.name = Path(self.path).name
        self.num_threads = int(num_threads or os.cpu_count() or 1)
        try:
            self.interpreter = Interpreter(model_path=self.path, num_threads=self.num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError, OSError) as error:
            raise ModelLoadError(self.path, f"not a TFLite model the interpreter can load: "
                                 f"{error}") from error
        inputs = self.interpreter.get_input_details()
        image_inputs = [d for d in inputs if "image" in d["name"].lower()]
        if not image_inputs:
            image_inputs = [d for d in inputs
                            if len(d["shape"]) == 4 and d["dtype"] == np.float32]
        if len(image_inputs) != 1:
            raise ModelLoadError(self.path, "cannot tell which input is the image: "
                                 f"{[(d['name'], list(d['shape'])) for d in inputs]}")
        self._input = image_inputs[0]
        shape = [int(v) for v in self._input["shape"]]
        if len(shape) != 4 or shape[-1] != 3 or self._input["dtype"] != np.float32:
            raise ModelLoadError(self.path, "image input must be float32 [1, H, W, 3], got "
                                 f"{self._input['dtype'].__name__} {shape}")
        self.frame_hw = (shape[1], shape[2])
        outputs = self.interpreter.get_output_details()
        centers = [d for d in outputs if list(d["shape"])[-1:] == [2] and len(d["shape"]) == 2]
        if not centers:
            raise ModelLoadError(self.path, "no [1, 2] centre output: "
                                 f"{[(d['name'], list(d['shape'])) for d in outputs]}")
        named = [d for d in centers if "center" in d["name"].lower()]
        self._center = (named or centers)[0]
        maps = [d for d in outputs if len(d["shape"]) == 4 and int(d["shape"][-1]) == 1]
        self._weight_map = maps[0] if maps else None
        self.has_weight_map = self._weight_map is not None
        self.metadata = self._read_metadata()

    def _read_metadata(self) -> Optional[dict]:
        """The exporter's metadata (embedded, else ``<file>.json``), checked against the file.

        ``None`` for a model without any (e.g. Google's).

        Raises:
          ModelLoadError: the metadata is unreadable, or its input shape is not the model's.
        """
        from attention_center.tflite_metadata import read_tflite_metadata

        try:
            metadata = read_tflite_metadata(self.path)
        except (OSError, ValueError) as error:
            raise ModelLoadError(self.path, f"unreadable metadata: {error}") from error
        if metadata is None:
            return None
        declared = (metadata.get("input") or {}).get("shape")
        actual = [int(v) for v in self._input["shape"]]
        if declared is not None and [int(v) for v in declared] != actual:
            raise ModelLoadError(self.path, f"metadata says input {list(declared)} but the "
                                 f"model's input is {actual}")
        return metadata

    def predict_frames(self, frames):
        frames = self._check_frames(frames)
        centers, maps = [], []
        for frame in frames:
            self.interpreter.set_tensor(self._input["index"], frame[None])
            self.interpreter.invoke()
            centers.append(np.array(self.interpreter.get_tensor(self._center["index"]),
                                    np.float64).reshape(2))
            if self._weight_map is not None:
                maps.append(np.array(self.interpreter.get_tensor(self._weight_map["index"]),
                                     np.float32)[0])
        center = np.stack(centers) if centers else np.zeros((0, 2))
        weight_map = np.stack(maps) if maps else None
        return {"center": center, "weight_map": weight_map}


def load_predictor(path_or_model=None, num_threads: Optional[int] = None,
                   batch_size: int = 8, frame_hw=None) -> Predictor:
    """Loads a model as a :class:`Predictor`.

    Args:
      path_or_model: ``None`` (the bundled default model), a ``.keras`` or
        ``.tflite`` path, a ``keras.Model``, or a :class:`Predictor` (returned
        as is).
      num_threads: TFLite interpreter threads (default: the number of CPUs).
      batch_size: frames per Keras forward pass.
      frame_hw: frame for Keras models that accept any input size.
    Returns:
      a :class:`Predictor`.
    Raises:
      ModelLoadError: missing file, unknown suffix, unreadable model, or an
        interface that is not image -> ``[B, 2]`` centre.
    """
    if isinstance(path_or_model, Predictor):
        return path_or_model
    if path_or_model is None:
        path_or_model = default_model_path()
    if not isinstance(path_or_model, (str, os.PathLike)):
        import keras  # noqa: F401  (only Keras objects get here)
        if not isinstance(path_or_model, keras.Model):
            raise ModelLoadError(repr(path_or_model)[:80],
                                 "not a model: expected a path, a keras.Model or a Predictor")
        return KerasPredictor(path_or_model, frame_hw=frame_hw, batch_size=batch_size)
    path = Path(path_or_model)
    if not path.is_file():
        raise ModelLoadError(path, "no such model file")
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return TFLitePredictor(path, num_threads=num_threads)
    if suffix in (".keras", ".h5"):
        import keras

        import attention_center.models  # noqa: F401  (registers AttentionCenterModel)
        try:
            model = keras.saving.load_model(path, compile=False)
        except Exception as error:  # Keras raises many types for a bad file
            raise ModelLoadError(path, f"cannot load as a Keras model: "
                                 f"{type(error).__name__}: {error}") from error
        return KerasPredictor(model, path=path, frame_hw=frame_hw, batch_size=batch_size)
    raise ModelLoadError(path, f"unknown model type {suffix or '(no suffix)'!r}: "
                         "expected .keras or .tflite")
