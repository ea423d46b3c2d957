"""The attention-centre model: backbone pyramid -> head -> weighting map -> gravity centre."""

from __future__ import annotations

import contextlib

import keras

from attention_center.backbones import build_backbone, get_backbone_spec, level_stride
from attention_center.backbones.registry import check_image_shape, check_levels
from attention_center.core.frames import MODEL_FRAME_HW
from attention_center.heads import build_head
from attention_center.layers.gravity_center import GravityCenter
from attention_center.layers.resize import ResizeTo


@contextlib.contextmanager
def global_dtype_policy(policy):
    """Builds layers under ``policy`` (a Keras dtype policy name, e.g. ``"mixed_float16"``):
    sets it as the global policy inside the block and restores the previous one after it;
    ``None`` leaves the global policy as it is."""
    if policy is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _sublayers(layer):
    return list(layer._flatten_layers(include_self=False, recursive=False))


def trainable_overrides(model) -> dict:
    """``{"i/j/...": bool}``: the ``trainable`` flag of every layer under ``model`` (nested
    models included) that differs from its parent's, and of ``model`` itself (key ``""``) when
    it is ``False``: what :func:`apply_trainable_overrides` needs to freeze a copy rebuilt from
    the config the same way (a frozen backbone, a backbone frozen up to a level...).

    A layer is named by the positions of it and its ancestors among their parents' direct
    sublayers (``"1/0/17"``: sublayer 17 of sublayer 0 of the model's sublayer 1), as Keras
    pairs the weights of a ``.keras`` file with the layers: names such as ``activation_18``
    are numbered by Keras per session and differ in a rebuilt model.
    """
    overrides = {} if model.trainable else {"": False}

    def visit(layer, path, parent_trainable):
        for index, child in enumerate(_sublayers(layer)):
            child_path = f"{path}/{index}" if path else str(index)
            if child.trainable != parent_trainable:
                overrides[child_path] = bool(child.trainable)
            visit(child, child_path, child.trainable)

    visit(model, "", model.trainable)
    return overrides


def apply_trainable_overrides(model, overrides) -> None:
    """Sets the flags :func:`trainable_overrides` recorded, parents before their children
    (Keras's ``trainable`` setter also sets every sublayer's).

    Raises:
      ValueError: a path names no layer of ``model`` (another architecture).
    """
    positions = {}
    for path in overrides:
        indices = path.split("/") if path else []
        if not all(index.isdigit() for index in indices):
            raise ValueError(f"{model.name}: {path!r} is not a layer position such as '1/0/17'")
        positions[path] = [int(index) for index in indices]
    for path in sorted(overrides, key=positions.get):
        layer = model
        for index in positions[path]:
            children = _sublayers(layer)
            if index >= len(children):
                raise ValueError(f"{model.name}: no layer {path!r} to set trainable on")
            layer = children[index]
        layer.trainable = bool(overrides[path])


class RebuildAtInputShape:
    """Mixin for config-built models: :meth:`with_input_shape` and :meth:`with_dtype_policy`
    from ``get_config``.

    The model's config must hold ``"input_shape"`` and rebuild the same layers
    (so the weights line up) when it changes; ``_config_with_dtype_policy(policy)`` gives the
    config rebuilt under another dtype policy.
    """

    def with_input_shape(self, input_shape):
        """The same model (config, weights, trainable flags and dtype policy) rebuilt for
        another input size."""
        config = self.get_config()
        config["input_shape"] = list(input_shape)
        clone = type(self).from_config(config)
        clone.set_weights(self.get_weights())
        return clone

    def with_dtype_policy(self, policy):
        """The same model (config, weights, trainable flags) rebuilt with its layers under
        another Keras dtype policy: e.g. ``"float32"`` for CPU inference or a TFLite export of
        a model trained (and saved) under ``"mixed_float16"``. The weights are float32 under
        every policy, so they carry over unchanged."""
        clone = type(self).from_config(self._config_with_dtype_policy(policy))
        clone.set_weights(self.get_weights())
        return clone


@keras.saving.register_keras_serializable(package="attention_center")
class AttentionCenterModel(RebuildAtInputShape, keras.Model):
    """Predicts where people look first: an image -> (x, y) and a weighting map.

    A functional model assembled from its configuration (the keras-hub pattern:
    ``get_config`` returns the arguments, so a ``.keras`` file rebuilds the same
    graph and :meth:`with_input_shape` rebuilds it at another input size with
    the same weights).

    Input ``"image"``: ``float32 [B, H, W, 3]``, RGB in [0, 1], the image fitted
    into the ``H x W`` frame by resize-with-pad (Google's interface; see
    :mod:`attention_center.core.frames`).

    Outputs (a dict):
      ``"center"``: ``float32 [B, 2]``, (x, y) in 0-based pixel-centre
        coordinates of the input frame.
      ``"weight_map"``: ``float32 [B, ceil(h / s), ceil(w / s), 1]`` in (0, 1),
        the weighting map whose gravity centre is the centre; ``(h, w)`` is the
        size the network works at (``internal_hw``, or else the input's ``H x W``)
        and ``s`` (:attr:`feature_stride`) the stride of the finest tapped level.
        One cell covers :attr:`output_stride` input-frame pixels per axis
        (``s * H / h``: e.g. 8 for the presets, 480x640 inputs worked at 240x320
        with P2 taps, a 60x80 map).

    Attributes:
      feature_stride: ``int``, the stride of the finest tapped level relative to the
        working size (``level_stride(levels[0])``: 4 for ``P2``).
      output_stride: input-frame pixels per weight-map cell, ``feature_stride * H / h``
        (an ``int`` where it is whole, else a ``float``); ``None`` where it is not one number:
        with ``internal_hw`` and an input of any size (``None`` dims), or where the two axes'
        strides differ (``internal_hw`` of another aspect ratio than the input).

    Args:
      backbone: a registered backbone name (``attention_center.backbones.list_backbones()``).
      input_shape: ``(H, W, 3)``; ``(None, None, 3)`` accepts any size.
      levels: pyramid levels the head taps, each at most once, e.g.
        ``("P2", "P3", "P4", "P5")``; ``None`` (default): every level the backbone has.
      alpha: backbone width multiplier, where the family has one.
      head_width, head_convs, upsampling, aggregation, dropout: see
        :class:`~attention_center.heads.AttentionCenterHead`.
      head_priors: learned Gaussian priors weighted per image by a global descriptor
        (``AttentionCenterHead(priors=...)``); 0: none.
      head_temperature: factor on the head's logits before the sigmoid
        (``AttentionCenterHead(temperature=...)``), chosen after training on a validation
        split (:func:`attention_center.models.temperature.with_head_temperature`); 1: none.
      backbone_weights: ``"imagenet"``, ``"keras"``, ``"offline"``, ``None`` or
        a path; only used when the model is first created (a loaded model gets
        its saved weights).
      normalization: input normalization mode inside the model; default: the
        one the backbone weights expect. Recorded in the config.
      internal_hw: ``(h, w)`` the model works at: an input of another size is
        bilinearly resized to it first (inside the graph), so a model trained
        at 240x320 sees the same scale when it is exported with a 480x640
        input, and runs 4x fewer pixels. The centre stays in pixels of the
        input frame. ``None``: work at the input size.
      dtype_policy: the Keras dtype policy the model's layers are built with (a name:
        ``"float32"``, ``"mixed_float16"``, ``"mixed_bfloat16"``); ``None``: the global
        policy (``keras.config.dtype_policy()``). Recorded in the config, so a ``.keras``
        file reloads with the policy it was saved with whatever the global policy is (a
        config written by 0.13.0 or earlier holds none and reloads as ``"float32"``, the
        policy the presets were trained with). The outputs are float32 under every policy;
        :meth:`with_dtype_policy` rebuilds a model under another policy.

    ``get_config`` also records the ``trainable`` flags (a frozen backbone, or the whole
    model frozen: ``"trainable_layers"``, see :func:`trainable_overrides`); ``from_config``
    restores them, so they survive ``.keras`` files, :meth:`with_input_shape` and the
    ensembles built from configs.
    """

    def __init__(
        self,
        backbone="mobilenet_v2",
        input_shape=(*MODEL_FRAME_HW, 3),
        levels=None,
        alpha=1.0,
        head_width=64,
        head_convs=1,
        upsampling="bilinear",
        aggregation="add",
        dropout=0.0,
        backbone_weights="imagenet",
        normalization=None,
        internal_hw=None,
        head_priors=0,
        head_temperature=1.0,
        dtype_policy=None,
        **kwargs,
    ):
        if dtype_policy is None:
            dtype_policy = keras.config.dtype_policy().name
        dtype_policy = keras.dtype_policies.get(dtype_policy).name
        with global_dtype_policy(dtype_policy):
            self._build_graph(
                backbone=backbone,
                input_shape=input_shape,
                levels=levels,
                alpha=alpha,
                head_width=head_width,
                head_convs=head_convs,
                upsampling=upsampling,
                aggregation=aggregation,
                dropout=dropout,
                backbone_weights=backbone_weights,
                normalization=normalization,
                internal_hw=internal_hw,
                head_priors=head_priors,
                head_temperature=head_temperature,
                **kwargs,
            )
        self.layer_dtype_policy = dtype_policy

    def _build_graph(
        self,
        backbone,
        input_shape,
        levels,
        alpha,
        head_width,
        head_convs,
        upsampling,
        aggregation,
        dropout,
        backbone_weights,
        normalization,
        internal_hw,
        head_priors,
        head_temperature,
        **kwargs,
    ):
        input_shape = check_image_shape(input_shape)
        internal_hw = tuple(int(v) for v in internal_hw) if internal_hw else None
        if levels is None:  # every level the backbone taps (P2-P5, or P2-P4 for compact ones)
            levels = tuple(get_backbone_spec(backbone).taps)
        levels = tuple(sorted(check_levels(backbone, levels), key=level_stride))
        # The head first: its arguments are checked before the (costly) backbone is built.
        head = build_head(
            "center",
            width=head_width,
            num_convs=head_convs,
            upsampling=upsampling,
            aggregation=aggregation,
            dropout=dropout,
            priors=head_priors,
            temperature=head_temperature,
            strides=[level_stride(level) for level in levels],
            name="center_head",
        )
        backbone_shape = (*internal_hw, 3) if internal_hw else input_shape
        feature_model = build_backbone(
            backbone,
            input_shape=backbone_shape,
            weights=backbone_weights,
            alpha=alpha,
            levels=levels,
            normalization=normalization,
        )
        image = keras.Input(input_shape, name="image")
        working = image
        if internal_hw and tuple(input_shape[:2]) != internal_hw:
            working = ResizeTo(*internal_hw, interpolation="bilinear", name="internal_resize")(
                image
            )
        pyramid = feature_model(working)
        weight_map = head([pyramid[level] for level in levels])
        center = GravityCenter(name="gravity_center")([weight_map, image])
        kwargs.setdefault("name", f"attention_center_{backbone}")
        super().__init__(
            inputs=image, outputs={"center": center, "weight_map": weight_map}, **kwargs
        )
        self.backbone_name = backbone
        self.frame_shape = input_shape
        self.levels = levels
        self.alpha = alpha
        self.head_width = head_width
        self.head_convs = head_convs
        self.upsampling = upsampling
        self.aggregation = aggregation
        self.dropout_rate = dropout
        self.head_priors = int(head_priors)
        self.head_temperature = float(head_temperature)
        self.normalization = feature_model.normalization
        self.internal_hw = internal_hw
        self.feature_stride = level_stride(levels[0])
        self.output_stride = _output_stride(self.feature_stride, input_shape[:2], internal_hw)

    @property
    def backbone(self) -> keras.Model:
        """The feature-pyramid backbone (a nested model, for freezing stages)."""
        return self.get_layer(f"{self.backbone_name}_backbone")

    def get_config(self):
        return {
            "name": self.name,
            "backbone": self.backbone_name,
            "input_shape": list(self.frame_shape),
            "levels": list(self.levels),
            "alpha": self.alpha,
            "head_width": self.head_width,
            "head_convs": self.head_convs,
            "upsampling": self.upsampling,
            "aggregation": self.aggregation,
            "dropout": self.dropout_rate,
            "normalization": self.normalization,
            "internal_hw": list(self.internal_hw) if self.internal_hw else None,
            "head_priors": self.head_priors,
            "head_temperature": self.head_temperature,
            "dtype_policy": self.layer_dtype_policy,
            "trainable_layers": trainable_overrides(self),
        }

    def _config_with_dtype_policy(self, policy):
        return {**self.get_config(), "dtype_policy": keras.dtype_policies.get(policy).name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["backbone_weights"] = None
        # Configs written before the policy was recorded: the presets, trained in float32.
        config.setdefault("dtype_policy", "float32")
        overrides = config.pop("trainable_layers", None) or {}
        if config.pop("trainable", True) is False:  # a Keras-style flag, should one be given
            overrides = {"": False, **overrides}
        model = cls(**config)
        apply_trainable_overrides(model, overrides)
        return model


def _output_stride(feature_stride, input_hw, internal_hw):
    """Input-frame pixels per weight-map cell (see :class:`AttentionCenterModel`)."""
    if not internal_hw or tuple(input_hw) == tuple(internal_hw):
        return feature_stride
    if None in tuple(input_hw):
        return None
    stride_y = feature_stride * input_hw[0] / internal_hw[0]
    stride_x = feature_stride * input_hw[1] / internal_hw[1]
    if abs(stride_y - stride_x) > 1e-9:
        return None
    return int(round(stride_y)) if abs(stride_y - round(stride_y)) < 1e-9 else stride_y


def build_model(
    backbone="mobilenet_v2", input_shape=(*MODEL_FRAME_HW, 3), **kwargs
) -> AttentionCenterModel:
    """Builds an attention-centre model; see :class:`AttentionCenterModel` for the arguments.

    Example::

        model = build_model("mobilenet_v2", input_shape=(240, 320, 3))
        out = model(frames)            # frames: float32 [B, 240, 320, 3], RGB in [0, 1]
        out["center"]                  # [B, 2] (x, y), pixels of the 320x240 frame
    """
    return AttentionCenterModel(backbone=backbone, input_shape=input_shape, **kwargs)
