"""Metadata of an exported model: embedded in the ``.tflite`` and written beside it.

The metadata is one JSON object, stored twice:

* inside the flatbuffer, as the model metadata entry named
  :data:`METADATA_NAME` (``"attention_center"``; interpreters ignore it), so
  it travels with the file;
* beside it, as ``<file>.json`` (e.g. ``center.tflite.json``), for people and
  tools that do not parse flatbuffers.

:func:`read_metadata` reads the embedded copy, else the one beside the file;
the model loader reads the same
(``attention_center.inference.predictors.load_predictor(path).metadata``,
through :mod:`attention_center.core.tflite_metadata`).

Keys: ``format``, ``model`` (name, backbone, config, version, sha256 of the
``.keras``), ``input`` (name, shape, dtype, colour, range, how to frame an
image, the normalization done inside the model and what it computes, the
internal working size), ``outputs``, ``quantization`` (mode, ops, ops left in
float), ``parity`` (see :mod:`export.parity`), ``training_data`` and
``metrics`` (from the model card: ``metadata.json`` beside the ``.keras``, else
the training run folder's ``config.json`` and ``history.jsonl``; see
:func:`default_model_card`), ``exporter`` (versions, date).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from attention_center.core.tflite_metadata import METADATA_NAME, sidecar_path
from export import flatbuffer
from export.errors import ExportError

__all__ = [
    "FORMAT",
    "METADATA_NAME",
    "build_metadata",
    "default_model_card",
    "embed_metadata",
    "file_sha256",
    "read_embedded_metadata",
    "read_metadata",
    "read_model_card",
    "run_model_card",
    "sidecar_path",
    "to_json",
]

FORMAT = "attention-center-tflite/1"

PREPROCESSING = (
    "RGB in [0, 1], fitted into the frame with its aspect ratio kept and zero padding, as "
    "tf.image.resize_with_pad(image, H, W, method='bicubic', antialias=True) "
    "(attention_center.core.images.resize_with_pad)"
)
#: What the normalization modes of :class:`attention_center.layers.ImageNormalization`
#: do to the [0, 1] input, inside the model (nothing is to be done outside it).
NORMALIZATIONS = {
    "identity": "none",
    "tf": "2x - 1 (to [-1, 1])",
    "torch": "(x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225] (ImageNet mean and std)",
    "raw255": "255x",
    "caffe": "RGB -> BGR, 255x - [103.939, 116.779, 123.68]",
}
CENTER_MEANING = (
    "(x, y) in pixels of the padded HxW frame, 0-based pixel-centre coordinates "
    "(map back to the image with attention_center.core.frames.FrameTransform.to_original)"
)


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


def run_model_card(model_path: os.PathLike | str) -> dict:
    """A model card made from the training run folder the ``.keras`` sits in, or ``{}``.

    ``attention-center train`` writes ``config.json`` (its
    :class:`~attention_center.training.trainer.TrainConfig`) and
    ``history.jsonl`` (one row per epoch) beside its checkpoints; from them:
    ``training_data`` (sources, ground-truth folder, training size, split rule)
    and ``metrics`` (the best validation centre error, i.e. the mean distance
    to the human centre over the image diagonal on the val split).

    Returns:
      ``{"training_data": ..., "metrics": ..., "source": "run folder"}``, or
      ``{}`` when the folder holds no training config.
    """
    folder = Path(model_path).resolve().parent
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(config, dict) or "sources" not in config:
        return {}
    card = {
        "source": f"training run folder {folder.name}/ (config.json, history.jsonl)",
        "training_data": {
            "sources": list(config.get("sources") or []),
            "ground_truth": config.get("data_dir"),
            "split": "train split of attention_center.core.splits.split_of (80% of the images, by "
            "a hash of the image id); model selection on the val split",
            "input_hw": config.get("input_hw"),
            "max_images": config.get("max_images") or None,
        },
        "metrics": None,
    }
    history = folder / "history.jsonl"
    if history.is_file():
        from attention_center.training.trainer import MONITOR, read_history

        try:
            rows = [r for r in read_history(history) if MONITOR in r]
        except (OSError, ValueError, KeyError):
            rows = []
        # best_<phase>.keras is the best epoch of that phase; model.keras the best overall.
        stem = Path(model_path).stem
        phase = stem[len("best_") :] if stem.startswith("best_") else None
        if phase:
            rows = [r for r in rows if r.get("phase") == phase]
        if rows:
            best = min(rows, key=lambda r: r[MONITOR])
            card["metrics"] = {
                MONITOR: round(float(best[MONITOR]), 5),
                "meaning": "mean distance between the predicted and the human centre over "
                "the image diagonal, validation split, at the training size",
                "phase": best.get("phase"),
                "epoch": best.get("epoch"),
            }
            if not phase and stem != "model":
                card["metrics"]["note"] = (
                    "best epoch of the run's history; this checkpoint may be another one"
                )
    return card


def default_model_card(model_path: os.PathLike | str) -> dict:
    """The model card of a ``.keras``: ``metadata.json`` beside it, else its run folder's.

    Raises:
      ExportError: a ``metadata.json`` exists but is not a JSON object.
    """
    beside = Path(model_path).with_name("metadata.json")
    if beside.is_file():
        return read_model_card(beside)
    return run_model_card(model_path)


def build_metadata(
    *,
    model,
    tflite_content: bytes,
    quantization: str,
    input_hw,
    model_path: os.PathLike | str | None = None,
    model_card: dict | None = None,
    parity: dict | None = None,
    outputs=("center",),
) -> dict[str, Any]:
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
    sha256 = file_sha256(model_path) if model_path and os.path.isfile(model_path) else None
    source = os.path.basename(os.fspath(model_path)) if model_path else None
    config = model.get_config() if hasattr(model, "get_config") else {}
    if config.get("members"):  # an AttentionCenterEnsemble: describe it by its members
        members = config["members"]
        shared = {
            key: members[0].get(key)
            for key in ("normalization", "internal_hw")
            if all(m.get(key) == members[0].get(key) for m in members)
        }
        config = {
            **config,
            **shared,
            "backbone": f"ensemble of {len(members)}: "
            + ", ".join(str(m.get("backbone")) for m in members),
        }
    output_specs = [
        {
            "name": "center:0",
            "index": 0,
            "shape": [1, 2],
            "dtype": "float32",
            "meaning": CENTER_MEANING,
        }
    ]
    if "weight_map" in outputs:
        output_specs.append(
            {
                "name": "weight_map:0",
                "index": 1,
                "dtype": "float32",
                "meaning": "weighting map in (0, 1) whose gravity centre is output 0",
            }
        )
    return {
        "format": FORMAT,
        "model": {
            "name": getattr(model, "name", ""),
            "backbone": config.get("backbone"),
            "config": {k: v for k, v in config.items() if k != "name"},
            "version": card.get("version")
            or card.get("model_version")
            or " ".join(
                filter(
                    None,
                    [
                        f"attention-center {attention_center.__version__}",
                        source,
                        f"sha256:{sha256[:12]}" if sha256 else None,
                    ],
                )
            ),
            "source": source,
            "source_sha256": sha256,
            "parameters": int(model.count_params()) if hasattr(model, "count_params") else None,
        },
        "input": {
            "name": "image:0",
            "shape": [1, height, width, 3],
            "dtype": "float32",
            "color": "RGB",
            "range": [0.0, 1.0],
            "preprocessing": PREPROCESSING,
            "normalization_inside_model": config.get("normalization"),
            "normalization_meaning": NORMALIZATIONS.get(config.get("normalization")),
            "internal_hw": config.get("internal_hw"),
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
            "tensorflow": _version("tensorflow") or _version("tensorflow-cpu"),
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
    raise ExportError(
        f"{tflite_path}: no '{METADATA_NAME}' metadata in the model and no {beside.name} beside it"
    )
