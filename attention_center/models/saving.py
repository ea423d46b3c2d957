"""Loading ``.keras`` files of attention-center models with their custom layers registered."""

from __future__ import annotations

import os

import keras

# Importing these registers every custom class with Keras (register_keras_serializable).
from attention_center import heads, layers, losses  # noqa: F401
from attention_center.models import center_model, ensemble  # noqa: F401

__all__ = ["load_model"]


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
      whatever Keras raises for a missing or corrupt file.
    """
    from attention_center.presets import resolve_model

    return keras.saving.load_model(resolve_model(path, fmt="keras"), compile=compile)
