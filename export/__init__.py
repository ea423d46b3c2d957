"""Export an attention-centre model to TFLite: a drop-in for Google's ``center.tflite``.

Command line (see ``docs/export.md``)::

    python -m export --out center.tflite                 # bundled model, int8
    python -m export --model run/model.keras --quantization float16 --out center_f16.tflite

Library::

    from export import convert_model, read_metadata
    content = convert_model(model, "int8", representative_frames=lambda: frames)
    read_metadata("center.tflite")["parity"]

Importing this package loads neither Keras nor TensorFlow; the names below are
resolved on first use (so ``python -m export`` can choose the backend first).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ExportError": "export.errors",
    "QUANTIZATIONS": "export.converter",
    "load_center_model": "export.converter",
    "fixed_size_model": "export.converter",
    "write_saved_model": "export.converter",
    "convert_saved_model": "export.converter",
    "convert_model": "export.converter",
    "THRESHOLDS": "export.parity",
    "ParityReport": "export.parity",
    "parity_report": "export.parity",
    "read_metadata": "export.metadata",
    "operator_counts": "export.flatbuffer",
    "float_ops": "export.flatbuffer",
    "non_builtin_ops": "export.flatbuffer",
    "Exporter": "export.pipeline",
    "run_export": "export.pipeline",
    "default_model_card": "export.metadata",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'export' has no attribute {name!r}")
