"""The registered backbones: constructors and their pyramid taps.

Each tap is the output of the *last block* at that stride (before the next
stage widens it), the same points keras-hub and timm expose. ``P5`` of
MobileNetV2 and EfficientNet-B0 is the last block (320 channels), not the
1280-channel head convolution, which would add 0.4M parameters for little.
"""

from __future__ import annotations

import keras

from attention_center.backbones.efficientnet_lite import (
    EFFICIENTNET_LITE0_IMAGENET,
    EFFICIENTNET_LITE0_TAPS,
    EfficientNetLite0,
)
from attention_center.backbones.mobilenet import (
    MOBILENET_V2_TORCHVISION,
    mobilenet_v2,
    mobilenet_v3,
)
from attention_center.backbones.registry import BackboneSpec, register_backbone


def _resnet50(input_shape, weights, alpha):
    del alpha
    return keras.applications.ResNet50(input_shape=input_shape, include_top=False, weights=weights)


def _efficientnet_b0(input_shape, weights, alpha):
    del alpha
    return keras.applications.EfficientNetB0(
        input_shape=input_shape, include_top=False, weights=weights
    )


def _efficientnet_lite0(input_shape, weights, alpha):
    del alpha
    return EfficientNetLite0(input_shape=input_shape, include_top=False, weights=weights)


register_backbone(
    BackboneSpec(
        name="mobilenet_v2",
        constructor=mobilenet_v2,
        normalization="tf",
        alphas=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4),
        pretrained=MOBILENET_V2_TORCHVISION,
        taps={
            "P2": "block_2_add",
            "P3": "block_5_add",
            "P4": "block_12_add",
            "P5": "block_16_project_BN",
        },
    )
)
register_backbone(
    BackboneSpec(
        name="mobilenet_v3_small",
        constructor=mobilenet_v3(small=True),
        normalization="raw255",
        alphas=(0.75, 1.0),
        taps={
            "P2": "expanded_conv_project_bn",
            "P3": "expanded_conv_2_add",
            "P4": "expanded_conv_7_add",
            "P5": "expanded_conv_10_add",
        },
    )
)
register_backbone(
    BackboneSpec(
        name="mobilenet_v3_large",
        constructor=mobilenet_v3(small=False),
        normalization="raw255",
        alphas=(0.75, 1.0),
        taps={
            "P2": "expanded_conv_2_add",
            "P3": "expanded_conv_5_add",
            "P4": "expanded_conv_11_add",
            "P5": "expanded_conv_14_add",
        },
    )
)
register_backbone(
    BackboneSpec(
        name="resnet50",
        constructor=_resnet50,
        normalization="caffe",
        taps={
            "P2": "conv2_block3_out",
            "P3": "conv3_block4_out",
            "P4": "conv4_block6_out",
            "P5": "conv5_block3_out",
        },
    )
)
register_backbone(
    BackboneSpec(
        name="efficientnet_b0",
        constructor=_efficientnet_b0,
        normalization="raw255",
        taps={
            "P2": "block2b_add",
            "P3": "block3b_add",
            "P4": "block5c_add",
            "P5": "block7a_project_bn",
        },
    )
)


register_backbone(
    BackboneSpec(
        name="efficientnet_lite0",
        constructor=_efficientnet_lite0,
        normalization="tf",
        pretrained=EFFICIENTNET_LITE0_IMAGENET,
        keras_weights=False,
        taps=EFFICIENTNET_LITE0_TAPS,
    )
)
# The same network and weights with its deepest stride-16 block left out: P4 is the second of
# stage 5's three blocks (P5 is not offered: stages 6-7 follow block5c). Tapped at P2-P4 it
# is what fits an int8 file under 1 MB (0.77M parameters with block5c, 0.60M without).
register_backbone(
    BackboneSpec(
        name="efficientnet_lite0_compact",
        constructor=_efficientnet_lite0,
        normalization="tf",
        pretrained=EFFICIENTNET_LITE0_IMAGENET,
        keras_weights=False,
        taps={level: EFFICIENTNET_LITE0_TAPS[level] for level in ("P2", "P3")}
        | {"P4": "block5b_add"},
    )
)
