"""Metadata of an exported model: embedded in the ``.tflite`` and written beside it.

The metadata is one JSON object, stored twice:

* inside the flatbuffer, as the model metadata entry named
  :data:`METADATA_NAME` (``"attention_center"``; interpreters ignore it), so
  it travels with the file;
* beside it, as ``<file>.json`` (e.g. ``center.tflite.json``), for people and
  tools that do not parse flatbuffers.

:func:`read_metadata` reads the embedded copy, else the one beside the file.

Keys: ``format``, ``model`` (name, backbone, version, sha256 of the ``.keras``),
``input`` (name, shape, dtype, colour, range, how to frame an image, the
normalization done inside the model), ``outputs``, ``quantization`` (mode,
ops, ops left in float), ``parity`` (see :mod:`export.parity`),
``training_data`` and ``metrics`` (from the model card, when there is one),
``exporter`` (versions, date).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from export import flatbuffer
from export.errors import ExportError

METADATA_NAME = "attention_center"
FORMAT = "attention-center-tflite/1"

PREPROCESSING = (
    "RGB in [0, 1], fitted into the frame with its aspect ratio kept and zero padding, as "
    "tf.image.resize_with_pad(image, H, W, method='bicubic', antialias=True) "
    "(attention_center.image.resize_with_pad)")
CENTER_MEANING = ("(x, y) in pixels of the padded HxW frame, 0-based pixel-centre coordinates "
                  "(map back to the image with attention_center.image.FrameTransform.to_original)")


def sidecar_path(tflite_path: os.PathLike | str) -> Path:
    """``center.tflite`` -> ``center.tflite.json``."""
    tflite_path = Path(tflite_path)
    return tflite_path.with_name(tflite_path.name + ".json")


def file_sha256(path: os.PathLike | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_model_card(path: os.PathLike | str | None) -> dict:
    """A model card JSON (e.g. ``attention_center/assets/default_model/metadata.json``), or ``{}``.

    Raises:
      ExportError: the file exists but is not a JSON object.
    """
    if path is None or not Path(path).is_file():
        return {}
    try:
        card = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"{path}: unreadable model card: {error}") from error
    if not isinstance(card, dict):
        raise ExportError(f"{path}: model card is not a JSON object")
    return card


def build_metadata(*, model, tflite_content: bytes, quantization: str, input_hw,
                   model_path: os.PathLike | str | None = None, model_card: dict | None = None,
                   parity: dict | None = None, outputs=("center",)) -> dict[str, Any]:
    """The metadata object of one exported model.

    Args:
      model: the Keras model that was converted.
      tflite_content: the converted bytes (for the op lists).
      quantization: ``float32`` / ``float16`` / ``dynamic`` / ``int8``.
      input_hw: ``(H, W)`` of the frame.
      model_path: the ``.keras`` it came from (hashed).
      model_card: the model card, if any (its ``version``, ``training_data``,
        ``metrics``... are copied; the whole card is kept under ``model_card``).
      parity: a :meth:`ParityReport.to_dict`.
      outputs: output keys in order.
    """
    import keras

    import attention_center

    card = dict(model_card or {})
    height, width = (int(v) for v in input_hw)
    config = model.get_config() if hasattr(model, "get_config") else {}
    output_specs = [{"name": "center:0", "index": 0, "shape": [1, 2], "dtype": "float32",
                     "meaning": CENTER_MEANING}]
    if "weight_map" in outputs:
        output_specs.append({"name": "weight_map:0", "index": 1, "dtype": "float32",
                             "meaning": "weighting map in (0, 1) whose gravity centre is output 0"})
    return {
        "format": FORMAT,
        "model": {
            "name": getattr(model, "name", ""),
            "backbone": config.get("backbone"),
            "config": {k: v for k, v in config.items() if k != "name"},
            "version": card.get("version") or card.get("model_version")
            or f"attention-center {attention_center.__version__}",
            "source": os.path.basename(os.fspath(model_path)) if model_path else None,
            "source_sha256": file_sha256(model_path) if model_path and os.path.isfile(
                model_path) else None,
            "parameters": int(model.count_params()) if hasattr(model, "count_params") else None,
        },
        "input": {
            "name": "image:0", "shape": [1, height, width, 3], "dtype": "float32",
            "color": "RGB", "range": [0.0, 1.0], "preprocessing": PREPROCESSING,
            "normalization_inside_model": config.get("normalization"),
        },
        "outputs": output_specs,
        "quantization": {
            "mode": quantization,
            "ops": flatbuffer.operator_counts(tflite_content),
            "float_ops": flatbuffer.float_ops(tflite_content),
        },
        "parity": parity,
        "training_data": card.get("training_data"),
        "metrics": card.get("metrics"),
        "model_card": card or None,
        "exporter": {
            "attention_center": attention_center.__version__,
            "keras": keras.__version__,
            "tensorflow": _version("tensorflow"),
            "ai_edge_litert": _version("ai-edge-litert"),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        },
    }


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def to_json(metadata: dict) -> str:
    return json.dumps(metadata, indent=2, sort_keys=False, default=str) + "\n"


def embed_metadata(tflite_content: bytes, metadata: dict) -> bytes:
    """The model with ``metadata`` stored as its :data:`METADATA_NAME` entry."""
    return flatbuffer.set_metadata(tflite_content, METADATA_NAME, to_json(metadata).encode("utf-8"))


def read_embedded_metadata(tflite_content: bytes) -> dict | None:
    """The embedded metadata of model bytes, or ``None`` when there is none."""
    data = flatbuffer.get_metadata(tflite_content, METADATA_NAME)
    if data is None:
        return None
    return json.loads(data.decode("utf-8"))


def read_metadata(tflite_path: os.PathLike | str) -> dict:
    """The metadata of an exported model: embedded, else ``<file>.json`` beside it.

    Args:
      tflite_path: a ``.tflite`` written by ``python -m export``.
    Returns:
      The metadata dict (see the module docstring for its keys).
    Raises:
      ExportError: the file is missing or not a TFLite model, or carries no
        metadata and has none beside it, or the metadata is not valid JSON.
    """
    tflite_path = Path(tflite_path)
    try:
        content = tflite_path.read_bytes()
    except OSError as error:
        raise ExportError(f"{tflite_path}: cannot read: {error.strerror or error}") from error
    try:
        if len(content) < 8 or content[4:8] != b"TFL3":
            raise ExportError("not a TFLite model (no 'TFL3' flatbuffer identifier)")
        embedded = read_embedded_metadata(content)
    except ExportError as error:
        raise ExportError(f"{tflite_path}: {error}") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise ExportError(f"{tflite_path}: embedded metadata is not valid JSON: {error}") from error
    if embedded is not None:
        return embedded
    beside = sidecar_path(tflite_path)
    if beside.is_file():
        try:
            return json.loads(beside.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ExportError(f"{beside}: metadata is not valid JSON: {error}") from error
    raise ExportError(f"{tflite_path}: no '{METADATA_NAME}' metadata in the model and no {beside.name} "
                      "beside it")
