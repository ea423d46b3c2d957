"""A trained model at another head temperature: the same weights, a sharper or softer map."""

from __future__ import annotations

from attention_center.models.center_model import AttentionCenterModel

__all__ = ["with_head_temperature"]


def with_head_temperature(model: AttentionCenterModel, temperature: float) -> AttentionCenterModel:
    """A copy of ``model`` whose head multiplies its logits by ``temperature`` before the sigmoid.

    The copy is rebuilt from ``model``'s config with ``head_temperature=temperature`` (the
    value replaces the model's own, it does not multiply it) and gets every weight of
    ``model``; ``model`` is not changed. Its weighting map is
    ``sigmoid(temperature * logits)``, ``float32 [B, h, w, 1]``, and its ``center`` (x, y),
    0-based pixels of the input frame, is that map's gravity centre as before.

    Args:
      model: an :class:`AttentionCenterModel` (an ensemble: calibrate each member first).
      temperature: the factor, > 0 (1: the plain head).
    Raises:
      TypeError: ``model`` is not an :class:`AttentionCenterModel`.
      ValueError: ``temperature`` is not > 0.
    """
    if not isinstance(model, AttentionCenterModel):
        raise TypeError(f"a temperature needs an AttentionCenterModel, got {type(model).__name__}")
    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    copy = AttentionCenterModel.from_config({**model.get_config(), "head_temperature": temperature})
    copy.set_weights(model.get_weights())
    return copy
