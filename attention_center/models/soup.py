"""A weight-averaged model ("model soup"): several trained models in one of a member's size.

Models fine-tuned from the same starting weights (the same warm start or pretrained
backbone) with different seeds end in one basin of the loss, and the average of their
weights is often better than each of them (Wortsman et al. 2022, "Model soups: averaging
weights of multiple fine-tuned models improves accuracy without increasing inference
time"; the *uniform* soup). Unlike :class:`~attention_center.models.AttentionCenterEnsemble`,
which runs every member and averages their centres, the soup is one model: the size,
latency and int8 export of a single member.

Averaging models that did *not* start from the same weights gives a broken model (their
units are not aligned); the function cannot see where the members started, so check the
soup's error on a validation split (``attention-center evaluate``) before using it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attention_center.models.center_model import AttentionCenterModel

__all__ = ["weight_averaged_model"]

#: Config keys that may differ between members: the model's name, and its trainable flags and
#: dtype policy (the weights are float32 under every policy; the soup takes the first's).
_FREE_CONFIG_KEYS = ("name", "trainable_layers", "dtype_policy")


def weight_averaged_model(
    models: Sequence[AttentionCenterModel], name: str | None = None
) -> AttentionCenterModel:
    """A new model whose every weight is the mean of the members' (a uniform model soup).

    Args:
      models: two or more :class:`AttentionCenterModel` s of one architecture: equal configs
        (backbone, levels, head, ``internal_hw``, ``head_temperature`` ...) but for their
        names, ``trainable`` flags and dtype policies (the soup has the first's), so every
        variable has the same shape in each. Batch-norm statistics are
        averaged like the other weights; integer variables (none in the registered
        backbones) must be equal and are copied.
      name: the soup's model name (default: the first member's).
    Returns:
      A new :class:`AttentionCenterModel` built from the first member's config; its
      interface is the members' (``"image"`` ``float32 [B, H, W, 3]`` in [0, 1] ->
      ``"center"`` (x, y), 0-based pixels of the input frame, and ``"weight_map"``). The
      members are not changed.
    Raises:
      TypeError: a member is not an :class:`AttentionCenterModel` (an ensemble: average
        its members' weights instead, if they share a start).
      ValueError: fewer than two members, configs that differ (the keys are named), or
        variables of different shapes.
    """
    models = list(models)
    if len(models) < 2:
        raise ValueError(f"a weight average needs at least two models, got {len(models)}")
    for index, model in enumerate(models):
        if not isinstance(model, AttentionCenterModel):
            raise TypeError(
                f"model {index} is a {type(model).__name__}, not an AttentionCenterModel"
            )
    first = models[0].get_config()
    for index, model in enumerate(models[1:], start=1):
        config = model.get_config()
        differ = sorted(
            key
            for key in set(first) | set(config)
            if key not in _FREE_CONFIG_KEYS and first.get(key) != config.get(key)
        )
        if differ:
            details = ", ".join(f"{k}: {first.get(k)!r} vs {config.get(k)!r}" for k in differ)
            raise ValueError(f"model {index}'s config differs from model 0's in {details}")
    members = [model.get_weights() for model in models]
    averaged = []
    for position, values in enumerate(zip(*members)):
        shapes = {np.shape(v) for v in values}
        if len(shapes) > 1:
            raise ValueError(f"weight {position} has different shapes {sorted(shapes)}")
        reference = np.asarray(values[0])
        if np.issubdtype(reference.dtype, np.floating):
            mean = np.mean(np.stack([np.asarray(v, np.float64) for v in values]), axis=0)
            averaged.append(mean.astype(reference.dtype))
        else:
            if any(not np.array_equal(reference, v) for v in values[1:]):
                raise ValueError(f"integer weight {position} differs between the models")
            averaged.append(reference)
    soup = AttentionCenterModel.from_config({**first, "name": name or first["name"]})
    soup.set_weights(averaged)
    return soup
