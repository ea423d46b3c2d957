"""Reading the metadata that ``python -m export`` stores with a ``.tflite`` model.

An exported model carries one JSON object (input size and preprocessing, the
normalization inside the model, model version, training data, metrics,
quantization, parity; see :mod:`export.metadata` for the keys) twice:

* inside the flatbuffer, as the model metadata entry named
  :data:`METADATA_NAME` (a named buffer of ``Model.metadata``; interpreters
  ignore names they do not know), so it travels with the file;
* beside it, as ``<file>.json`` (``center.tflite`` -> ``center.tflite.json``).

This module only reads (no TensorFlow needed: the flatbuffer is parsed with the
schema bindings that ship with ``ai-edge-litert``); writing is done by
:mod:`export.metadata`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

__all__ = ["METADATA_NAME", "embedded_metadata_bytes", "read_tflite_metadata", "sidecar_path"]

#: Name of the metadata entry inside the flatbuffer.
METADATA_NAME = "attention_center"
_FILE_IDENTIFIER = b"TFL3"


def sidecar_path(tflite_path: os.PathLike | str) -> Path:
    """``center.tflite`` -> ``center.tflite.json`` (the copy of the metadata beside the model)."""
    tflite_path = Path(tflite_path)
    return tflite_path.with_name(tflite_path.name + ".json")


def _decoded(name) -> str:
    return name.decode() if isinstance(name, bytes) else (name or "")


def embedded_metadata_bytes(content: bytes, name: str = METADATA_NAME) -> Optional[bytes]:
    """The bytes of the model's metadata entry ``name``, or ``None`` when it has none.

    Args:
      content: ``.tflite`` bytes.
      name: the entry's name.
    Raises:
      ValueError: ``content`` is not a TFLite flatbuffer.
    """
    from ai_edge_litert import schema_py_generated as schema

    content = bytes(content)
    if len(content) < 8 or content[4:8] != _FILE_IDENTIFIER:
        raise ValueError("not a TFLite model (no 'TFL3' flatbuffer identifier)")
    root = schema.Model.GetRootAs(content, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if _decoded(entry.Name()) == name:
            buffer = root.Buffers(entry.Buffer())
            if buffer.Offset():  # models over 2 GB keep their buffers after the flatbuffer
                return bytes(content[buffer.Offset() : buffer.Offset() + buffer.Size()])
            return b"" if buffer.DataIsNone() else buffer.DataAsNumpy().tobytes()
    return None


def read_tflite_metadata(tflite_path: os.PathLike | str) -> Optional[dict]:
    """The exporter's metadata of a ``.tflite`` file: embedded, else ``<file>.json``, else ``None``.

    Args:
      tflite_path: a ``.tflite`` file (ours or anyone's; Google's has none).
    Returns:
      The metadata dict, or ``None`` when the model carries none and there is
      no ``.json`` beside it.
    Raises:
      OSError: the file cannot be read.
      ValueError: not a TFLite model, or the metadata is not a JSON object
        (the message names the file).
    """
    tflite_path = Path(tflite_path)
    content = tflite_path.read_bytes()
    source = os.fspath(tflite_path)
    try:
        data = embedded_metadata_bytes(content)
        source = f"{tflite_path} (embedded '{METADATA_NAME}' metadata)"
        if data is None:
            beside = sidecar_path(tflite_path)
            if not beside.is_file():
                return None
            data, source = beside.read_bytes(), os.fspath(beside)
        metadata = json.loads(data.decode("utf-8"))
    except ValueError as error:  # not TFLite, bad UTF-8 or bad JSON
        raise ValueError(f"{source}: {error}") from error
    if not isinstance(metadata, dict):
        raise ValueError(f"{source}: metadata is not a JSON object")
    return metadata
