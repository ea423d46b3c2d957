"""Loading ``.keras`` files of attention-center models with their custom layers registered."""

from __future__ import annotations

import os

import keras

# Importing these registers every custom class with Keras (register_keras_serializable).
from attention_center import heads, layers, losses  # noqa: F401
from attention_center.models import center_model, ensemble  # noqa: F401

__all__ = ["float32_model", "load_model"]


def load_model(path: os.PathLike | str = None, compile: bool = False) -> keras.Model:
    """``keras.saving.load_model`` for files holding our layers and models, or a preset's.

    ``keras.saving.load_model`` itself works too once ``attention_center`` is imported (in
    either order; :mod:`attention_center.keras_registration`); this function adds the presets.

    Args:
      path: a ``.keras`` file (an :class:`~attention_center.AttentionCenterModel`, an
        ensemble, or any model using our layers), or a bundled preset's name
        (``"default"``, ``"large"``; its ``.keras`` file); ``None``: the default preset.
      compile: restore the training configuration too (default: no, for inference).
    Raises:
      ValueError: a TFLite model (``"default:tflite"``, a ``.tflite`` path): Keras cannot load
        it; run it with :func:`attention_center.load_predictor` (or ``attention_center.predict``).
      and whatever Keras raises for a missing or corrupt file.
    """
    from attention_center.presets import resolve_model

    resolved = resolve_model(path, fmt="keras")
    if resolved.suffix.lower() == ".tflite":
        raise ValueError(
            f"{os.fspath(path)} is a TFLite model, which load_model (Keras) cannot read: "
            f"run it with attention_center.load_predictor({os.fspath(path)!r}), or give a "
            ".keras model"
        )
    return keras.saving.load_model(resolved, compile=compile)


def float32_model(model: keras.Model) -> keras.Model:
    """``model`` with every layer under the ``"float32"`` dtype policy.

    A model trained and saved under ``"mixed_float16"`` (``train --mixed_precision``) reloads
    under that policy; float16 arithmetic on a CPU is slow and TFLite's converter refuses
    it, so inference from a file and export run the float32 rebuild (the weights are float32
    under every policy and carry over unchanged). Models that are float32 already, and
    models without ``with_dtype_policy`` (not ours), are returned as they are.
    """
    if not hasattr(model, "with_dtype_policy"):
        return model
    config = model.get_config()
    policies = {
        member.get("dtype_policy") or "float32" for member in config.get("members", [config])
    }
    return model if policies == {"float32"} else model.with_dtype_policy("float32")
