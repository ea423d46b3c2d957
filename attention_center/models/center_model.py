"""The attention-centre model: backbone pyramid -> head -> weighting map -> gravity centre."""

from __future__ import annotations

import keras

from attention_center.backbones import build_backbone, get_backbone_spec, level_stride
from attention_center.core.frames import MODEL_FRAME_HW
from attention_center.heads import build_head
from attention_center.layers.gravity_center import GravityCenter
from attention_center.layers.resize import ResizeTo


class RebuildAtInputShape:
    """Mixin for config-built models: :meth:`with_input_shape` from ``get_config``.

    The model's config must hold ``"input_shape"`` and rebuild the same layers
    (so the weights line up) when it changes.
    """

    def with_input_shape(self, input_shape):
        """The same model (config and weights) rebuilt for another input size."""
        config = self.get_config()
        config["input_shape"] = list(input_shape)
        clone = type(self).from_config(config)
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
      ``"weight_map"``: ``float32 [B, H / s, W / s, 1]`` in (0, 1), the
        weighting map whose gravity centre is the centre; ``s`` is the stride
        of the finest tapped level.

    Args:
      backbone: a registered backbone name (``attention_center.backbones.list_backbones()``).
      input_shape: ``(H, W, 3)``; ``(None, None, 3)`` accepts any size.
      levels: pyramid levels the head taps, e.g. ``("P2", "P3", "P4", "P5")``;
        ``None`` (default): every level the backbone has.
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
        **kwargs,
    ):
        input_shape = tuple(input_shape)
        internal_hw = tuple(int(v) for v in internal_hw) if internal_hw else None
        if levels is None:  # every level the backbone taps (P2-P5, or P2-P4 for compact ones)
            levels = tuple(get_backbone_spec(backbone).taps)
        levels = tuple(sorted(levels, key=level_stride))
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
        head = build_head(
            "center",
            width=head_width,
            num_convs=head_convs,
            upsampling=upsampling,
            aggregation=aggregation,
            dropout=dropout,
            priors=head_priors,
            temperature=head_temperature,
            name="center_head",
        )
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
        self.output_stride = level_stride(levels[0])

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
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["backbone_weights"] = None
        return cls(**config)


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
