"""Helpers for the export tests: small models whose centres depend on the image.

A randomly initialized head gives an almost uniform weighting map, so every
image's centre sits near the middle of the frame and a parity test on it
would pass whatever the converter did to the weights. :func:`give_structure`
rescales the head's last 1x1 convolution so that the logits are spread (a
few cells near 1, most near 0): the centres then move by tens of pixels from
image to image, and a wrong weight, op or quantization shows.
"""

from __future__ import annotations

import numpy as np


def give_structure(model, frames: np.ndarray, spread: float = 3.0, offset: float = -5.0):
    """Rescales ``center_head``'s ``logits`` conv in place; returns the model.

    The new logits are ``spread * (z - mean) / std + offset`` of the current
    ones ``z`` over ``frames`` (so typical cells get sigmoid(offset) and the
    top few percent saturate).

    Args:
      model: an :class:`~attention_center.AttentionCenterModel`.
      frames: ``float32 [N, H, W, 3]`` real frames at the model's input size.
    """
    head = model.get_layer("center_head")
    kernel, bias = head.logits.get_weights()
    maps = np.asarray(model.predict(frames, verbose=0)["weight_map"], np.float64)
    maps = np.clip(maps, 1e-6, 1 - 1e-6)
    logits = np.log(maps / (1 - maps))
    mean, std = float(logits.mean()), float(logits.std()) or 1.0
    head.logits.set_weights([kernel / std * spread, (bias - mean) / std * spread + offset])
    return model


def save_small_model(
    path,
    frames: np.ndarray,
    input_hw=(240, 320),
    backbone="mobilenet_v2",
    alpha: float = 0.35,
    seed: int = 1,
    **kwargs,
):
    """Builds a small random-backbone model, gives it structure on ``frames``, saves it.

    Args:
      path: the ``.keras`` file to write.
      frames: ``float32 [N, H, W, 3]`` real frames at ``input_hw``.
      input_hw: the size it is built (as if trained) at.
      backbone, alpha, kwargs: :func:`attention_center.build_model` arguments.
      seed: Keras random seed for the initial weights.
    Returns:
      The model (also saved at ``path``).
    """
    import keras

    from attention_center import build_model

    keras.utils.set_random_seed(seed)
    model = build_model(
        backbone, input_shape=(*input_hw, 3), alpha=alpha, backbone_weights=None, **kwargs
    )
    give_structure(model, frames)
    model.save(path)
    return model


def structured_lite0_model(kodak_paths, input_hw=(96, 128), seed: int = 0, **kwargs):
    """A random compact EfficientNet-Lite0 model with structure on 8 Kodak frames.

    Returns:
      ``(model, frames)``: the model (``build_model`` ``kwargs``, e.g. ``head_priors``) and
      its ``float32 [8, H, W, 3]`` frames at ``input_hw``.
    """
    import keras

    from attention_center import build_model
    from export.images import load_frames

    keras.utils.set_random_seed(seed)
    model = build_model(
        "efficientnet_lite0_compact",
        input_shape=(*input_hw, 3),
        backbone_weights=None,
        **kwargs,
    )
    _, frames = load_frames(kodak_paths[:8], input_hw)
    give_structure(model, frames)
    return model, frames


def int8_content_following(model, frames, tolerance: float = 0.05) -> bytes:
    """Converts ``model`` to int8 TFLite (nothing kept in float but the gravity centre),
    asserts it has builtin ops only and that its centres on ``frames`` are within
    ``tolerance`` of the frame diagonal of the Keras model's; returns the ``.tflite`` bytes."""
    from attention_center.inference.tflite import google_centers, make_interpreter
    from export import converter, flatbuffer

    input_hw = tuple(frames.shape[1:3])
    content = converter.convert_model(
        model, "int8", input_hw=input_hw, representative_frames=lambda: frames, float_until=None
    )
    assert flatbuffer.non_builtin_ops(content) == [], flatbuffer.operator_counts(content)
    expected = np.asarray(model.predict(frames, verbose=0)["center"], np.float64)
    got = google_centers(make_interpreter(content), frames)
    assert np.linalg.norm(got - expected, axis=-1).max() <= tolerance * np.hypot(*input_hw)
    return content
