"""The one weights loader: a PyTorch state dict into a Keras model, by a checkpoint filter.

A *checkpoint filter* (timm's ``checkpoint_filter_fn``) is defined by each backbone family
beside its architecture: ``filter(state_dict) -> {torch_module_prefix: keras_layer_name}``.
:func:`load_state_dict` then converts each module's tensors by the type of the Keras layer
it maps to, so no layer name appears here:

=======================  ==========================================  =========================
Keras layer              torch tensors (``prefix.*``)                Keras weights
=======================  ==========================================  =========================
``DepthwiseConv2D``      ``weight [C, 1, kh, kw]``                   ``[kh, kw, C, 1]``
``Conv2D``               ``weight [out, in, kh, kw]`` (+ ``bias``)   ``[kh, kw, in, out]``
``Dense``                ``weight [out, in]``, ``bias``               ``[in, out]``, bias
``BatchNormalization``   ``weight, bias, running_mean, running_var``  gamma (folded), beta,
                                                                     moving mean, variance
=======================  ==========================================  =========================

Batch norm: the checkpoint's epsilon may differ from the Keras layer's (torchvision uses
``1e-5``; ``keras.applications.MobileNetV2`` hard-codes ``1e-3``). Inference BN is
``gamma * (x - mean) / sqrt(var + eps) + beta``, so ``gamma' = gamma * sqrt(var +
eps_keras) / sqrt(var + eps_checkpoint)`` with the rest unchanged gives identical outputs
in inference mode (:func:`fold_batch_norm`; checked to float32 rounding by the tests).

Coverage is checked both ways: every tensor of the checkpoint is used, except those of
modules whose Keras layer is absent from the model (a model built without its classifier
top), and every Keras layer with weights is set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["CheckpointFilter", "fold_batch_norm", "load_state_dict"]

#: ``state_dict -> {torch module prefix: Keras layer name}``.
CheckpointFilter = Callable[[Mapping[str, np.ndarray]], Mapping[str, str]]

_BN_TENSORS = ("weight", "bias", "running_mean", "running_var")


def fold_batch_norm(
    gamma, beta, mean, var, eps_checkpoint: float, eps_keras: float
) -> list[np.ndarray]:
    """``[gamma', beta, moving_mean, moving_variance]`` for a Keras BN with ``eps_keras``.

    ``gamma' = gamma * sqrt(var + eps_keras) / sqrt(var + eps_checkpoint)`` (float64, then
    float32), so the Keras layer computes what the checkpoint's BN computed.
    """
    gamma = np.asarray(gamma, np.float64)
    var64 = np.asarray(var, np.float64)
    if eps_checkpoint != eps_keras:
        gamma = gamma * np.sqrt(var64 + eps_keras) / np.sqrt(var64 + eps_checkpoint)
    return [np.asarray(a, np.float32) for a in (gamma, beta, mean, var)]


def _converted(layer, prefix: str, take, bn_epsilon: float) -> list[np.ndarray]:
    """The Keras weights of ``layer`` from the tensors ``prefix.*`` (``take`` marks them used)."""
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        gamma, beta, mean, var = (take(f"{prefix}.{name}") for name in _BN_TENSORS)
        return fold_batch_norm(gamma, beta, mean, var, bn_epsilon, float(layer.epsilon))
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # before Conv2D: it is one in Keras 3
        values = [np.transpose(take(f"{prefix}.weight"), (2, 3, 0, 1))]
    elif isinstance(layer, keras.layers.Conv2D):
        values = [np.transpose(take(f"{prefix}.weight"), (2, 3, 1, 0))]
    elif isinstance(layer, keras.layers.Dense):
        values = [take(f"{prefix}.weight").T]
    else:
        raise ValueError(f"layer {layer.name!r}: no conversion for {type(layer).__name__}")
    if getattr(layer, "use_bias", False):
        values.append(take(f"{prefix}.bias"))
    return [np.ascontiguousarray(v, dtype=np.float32) for v in values]


def load_state_dict(
    model,
    state_dict: Mapping[str, np.ndarray],
    checkpoint_filter: CheckpointFilter,
    bn_epsilon: float,
    source: str = "checkpoint",
):
    """Sets a Keras model's weights from a PyTorch state dict, checking full coverage.

    Args:
      model: the Keras architecture the checkpoint belongs to (any input size).
      state_dict: ``{tensor name: numpy array}`` (from
        :func:`attention_center.weights.torch_checkpoint.read_torch_state_dict`).
      checkpoint_filter: the family's ``{torch module prefix: Keras layer name}`` map.
      bn_epsilon: the checkpoint's batch-norm epsilon.
      source: the checkpoint's name, for messages.
    Returns:
      ``model``, its weights replaced in place.
    Raises:
      ValueError: a missing tensor, a shape mismatch, an unused tensor or an unset layer
        (the model is not the checkpoint's architecture).
    """
    layers = {layer.name: layer for layer in model.layers}
    used: set[str] = set()
    skipped_prefixes: list[str] = []
    done: set[str] = set()

    def take(key):
        if key not in state_dict:
            raise ValueError(f"{source}: missing tensor {key!r}")
        used.add(key)
        return np.asarray(state_dict[key])

    for prefix, layer_name in checkpoint_filter(state_dict).items():
        layer = layers.get(layer_name)
        if layer is None:  # e.g. the classifier of a model built without its top
            skipped_prefixes.append(prefix + ".")
            continue
        values = _converted(layer, prefix, take, bn_epsilon)
        current = layer.get_weights()
        if [v.shape for v in current] != [v.shape for v in values]:
            raise ValueError(
                f"layer {layer_name!r}: expected weight shapes "
                f"{[v.shape for v in current]}, converted "
                f"{[v.shape for v in values]} from {source}"
            )
        layer.set_weights(values)
        done.add(layer_name)
    unused = sorted(
        key
        for key in state_dict
        if key not in used
        and not key.endswith("num_batches_tracked")
        and not any(key.startswith(p) for p in skipped_prefixes)
    )
    if unused:
        raise ValueError(f"{source}: tensors not mapped to any layer: {unused[:8]}")
    unset = [layer.name for layer in model.layers if layer.weights and layer.name not in done]
    if unset:
        raise ValueError(f"model layers with weights not set from {source}: {unset[:8]}")
    return model
