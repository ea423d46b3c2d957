"""Centre loss and metrics (backend-agnostic: ``keras.ops`` only).

All take centres as ``[B, 2]`` (x, y) in pixels of one frame ``H x W``.
"""

from __future__ import annotations

import keras
from keras import ops

from attention_center.core.frames import MODEL_FRAME_HW


def normalized_center_error(y_true, y_pred, frame_hw):
    """Distance between centres divided by the frame diagonal: ``[B]`` float32.

    This is the project's headline metric (0 = exact; the image centre scores
    roughly 0.1-0.2 on eye-tracking data).
    """
    frame_h, frame_w = frame_hw
    diagonal = (float(frame_h) ** 2 + float(frame_w) ** 2) ** 0.5
    difference = ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")
    return ops.sqrt(ops.sum(ops.square(difference), axis=-1) + 1e-12) / diagonal


@keras.saving.register_keras_serializable(package="attention_center")
class CenterL2Loss(keras.losses.Loss):
    """L2 distance between predicted and true centre, with coordinates normalized by the frame.

    ``x`` is divided by the frame width and ``y`` by its height, so both axes
    weigh the same whatever the aspect ratio; the per-example loss is the
    Euclidean distance (``squared=False``, robust to a few images whose
    observers disagree) or its square.

    Args:
      frame_hw: ``(H, W)`` of the frame the centres are in.
      squared: use the squared distance.
    """

    def __init__(self, frame_hw=MODEL_FRAME_HW, squared=False, name="center_l2", **kwargs):
        super().__init__(name=name, **kwargs)
        self.frame_hw = tuple(int(v) for v in frame_hw)
        self.squared = bool(squared)

    def call(self, y_true, y_pred):
        scale = ops.convert_to_tensor([1.0 / self.frame_hw[1], 1.0 / self.frame_hw[0]], "float32")
        difference = (ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")) * scale
        squared = ops.sum(ops.square(difference), axis=-1)
        return squared if self.squared else ops.sqrt(squared + 1e-12)

    def get_config(self):
        config = super().get_config()
        config.update(frame_hw=list(self.frame_hw), squared=self.squared)
        return config


@keras.saving.register_keras_serializable(package="attention_center")
class NormalizedCenterError(keras.metrics.MeanMetricWrapper):
    """Mean of :func:`normalized_center_error` (distance / frame diagonal)."""

    def __init__(self, frame_hw=MODEL_FRAME_HW, name="center_error", dtype=None):
        self.frame_hw = tuple(int(v) for v in frame_hw)
        super().__init__(fn=normalized_center_error, name=name, dtype=dtype, frame_hw=self.frame_hw)

    def get_config(self):
        return {"frame_hw": list(self.frame_hw), "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="attention_center")
class SaliencyLoss(keras.losses.Loss):
    """Auxiliary loss on the weighting map against a fixation density map.

    ``kld_weight * KL(density || map) - cc_weight * CC(map, density)``, both
    maps normalized to sum to one over ``h x w`` (the combination used by the
    SAM saliency model). Pulls the weighting map towards where people looked,
    not only its centre of mass.

    ``y_true``: ``[B, h, w, 1]`` density (non-negative); ``y_pred``: the
    model's ``weight_map`` ``[B, h, w, 1]`` in (0, 1).
    """

    def __init__(self, kld_weight=1.0, cc_weight=0.5, name="saliency", **kwargs):
        super().__init__(name=name, **kwargs)
        self.kld_weight = float(kld_weight)
        self.cc_weight = float(cc_weight)

    def call(self, y_true, y_pred):
        eps = 1e-7
        batch = ops.shape(y_pred)[0]
        p = ops.reshape(ops.cast(y_pred, "float32"), (batch, -1))
        q = ops.reshape(ops.cast(y_true, "float32"), (batch, -1))
        p = p / (ops.sum(p, axis=-1, keepdims=True) + eps)
        q = q / (ops.sum(q, axis=-1, keepdims=True) + eps)
        kld = ops.sum(q * ops.log(eps + q / (p + eps)), axis=-1)
        pc = p - ops.mean(p, axis=-1, keepdims=True)
        qc = q - ops.mean(q, axis=-1, keepdims=True)
        cc = ops.sum(pc * qc, axis=-1) / (
            ops.sqrt(ops.sum(pc * pc, axis=-1) * ops.sum(qc * qc, axis=-1)) + eps
        )
        return self.kld_weight * kld - self.cc_weight * cc

    def get_config(self):
        config = super().get_config()
        config.update(kld_weight=self.kld_weight, cc_weight=self.cc_weight)
        return config
