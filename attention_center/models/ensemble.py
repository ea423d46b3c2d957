"""An ensemble of attention-centre models: one graph that averages their predictions."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from attention_center.core.frames import MODEL_FRAME_HW
from attention_center.layers.resize import ResizeTo
from attention_center.models.center_model import (
    AttentionCenterModel,
    RebuildAtInputShape,
    apply_trainable_overrides,
    global_dtype_policy,
    trainable_overrides,
)


@keras.saving.register_keras_serializable(package="attention_center")
class AttentionCenterEnsemble(RebuildAtInputShape, keras.Model):
    """Several :class:`AttentionCenterModel` s run on one input; their outputs averaged.

    Independently trained models make partly independent errors, so the mean
    of their centres is closer to the true centre than the typical member's
    (measured in ``docs/model_card_large_1.3.0.md``). The ensemble is one functional Keras
    model with the members' interface, so everything that takes an
    ``AttentionCenterModel`` (evaluation, prediction, ``python -m export``)
    takes it too.

    Input ``"image"``: ``float32 [B, H, W, 3]``, RGB in [0, 1], the image
    fitted into the ``H x W`` frame by resize-with-pad (as for the members).

    Outputs (a dict):
      ``"center"``: ``float32 [B, 2]``, the mean of the members' centres,
        (x, y) in 0-based pixel-centre coordinates of the input frame.
      ``"weight_map"``: ``float32 [B, h, w, 1]``, the mean of the members'
        weighting maps, each bilinearly resized to the first member's map size
        when they differ. (Its gravity centre is close to, but not exactly,
        ``"center"``: the mean of centres weights each member equally, the
        centre of the mean map weights members by their map mass.)

    Args:
      members: ``AttentionCenterModel`` configs (dicts from ``get_config()``);
        use :meth:`from_models` to build an ensemble from trained models.
      input_shape: ``(H, W, 3)`` of the ensemble's input; every member is
        rebuilt at it (each keeps its own ``internal_hw``); ``with_input_shape``
        rebuilds the whole ensemble at another.

    Each member keeps its own dtype policy (from its config; see
    :class:`AttentionCenterModel`'s ``dtype_policy``), the ensemble itself has the first
    member's; the averages and map resizes run in float32. ``get_config`` holds the members'
    current configs and the ensemble's ``trainable`` flags (``"trainable_layers"``), which
    ``from_config`` restores.
    """

    def __init__(self, members: Sequence[dict], input_shape=(*MODEL_FRAME_HW, 3), **kwargs):
        if len(members) < 1:
            raise ValueError("an ensemble needs at least one member")
        input_shape = tuple(int(v) if v is not None else None for v in input_shape)
        member_configs = []
        for index, config in enumerate(members):
            config = dict(config)
            config.update(input_shape=list(input_shape), name=f"member_{index}")
            member_configs.append(config)
        models = [AttentionCenterModel.from_config(config) for config in member_configs]
        with global_dtype_policy(models[0].layer_dtype_policy):  # the ensemble's own policy
            self._build_graph(models, input_shape, **kwargs)
        self.member_configs = member_configs
        self.frame_shape = input_shape

    def _build_graph(self, models, input_shape, **kwargs):
        image = keras.Input(input_shape, name="image")
        outputs = [model(image) for model in models]
        centers = [out["center"] for out in outputs]
        maps = [out["weight_map"] for out in outputs]
        map_hw = tuple(maps[0].shape[1:3])
        maps = [
            m
            if tuple(m.shape[1:3]) == map_hw or None in map_hw
            else ResizeTo(*map_hw, name=f"weight_map_resize_{i}", dtype="float32")(m)
            for i, m in enumerate(maps)
        ]
        if len(models) > 1:
            center = keras.layers.Average(name="center_mean", dtype="float32")(centers)
            weight_map = keras.layers.Average(name="weight_map_mean", dtype="float32")(maps)
        else:
            center, weight_map = centers[0], maps[0]
        kwargs.setdefault("name", "attention_center_ensemble")
        super().__init__(
            inputs=image, outputs={"center": center, "weight_map": weight_map}, **kwargs
        )

    @property
    def members(self) -> list[AttentionCenterModel]:
        """The member models (nested layers ``member_0``, ``member_1``, ...)."""
        return [self.get_layer(config["name"]) for config in self.member_configs]

    def get_config(self):
        return {
            "name": self.name,
            "input_shape": list(self.frame_shape),
            "members": [member.get_config() for member in self.members],
            "trainable_layers": trainable_overrides(self),
        }

    def _config_with_dtype_policy(self, policy):
        config = self.get_config()
        name = keras.dtype_policies.get(policy).name
        config["members"] = [{**member, "dtype_policy": name} for member in config["members"]]
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        overrides = config.pop("trainable_layers", None) or {}
        if config.pop("trainable", True) is False:
            overrides = {"": False, **overrides}
        ensemble = cls(**config)
        apply_trainable_overrides(ensemble, overrides)
        return ensemble

    @classmethod
    def from_models(
        cls,
        models: Sequence[AttentionCenterModel],
        input_shape=(*MODEL_FRAME_HW, 3),
        name="attention_center_ensemble",
    ) -> AttentionCenterEnsemble:
        """An ensemble of trained models, with their weights.

        Args:
          models: trained :class:`AttentionCenterModel` s (of any input size;
            other ensembles are flattened into their members).
          input_shape: ``(H, W, 3)`` of the ensemble's input.
        Raises:
          TypeError: a model is not an ``AttentionCenterModel`` (or ensemble).
        """
        flat = []
        for model in models:
            if isinstance(model, AttentionCenterEnsemble):
                flat.extend(model.members)
            elif isinstance(model, AttentionCenterModel):
                flat.append(model)
            else:
                raise TypeError(
                    f"{getattr(model, 'name', model)!r} is a "
                    f"{type(model).__name__}, not an AttentionCenterModel"
                )
        ensemble = cls([model.get_config() for model in flat], input_shape=input_shape, name=name)
        for member, model in zip(ensemble.members, flat):
            member.set_weights(model.get_weights())
        return ensemble
