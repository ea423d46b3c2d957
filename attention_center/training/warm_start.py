"""Warm starts: a new model takes every weight a trained model has for the same layer.

Used to start a smaller student from a trained teacher of the same backbone family (e.g. an
EfficientNet-Lite0 model tapped at P2-P4 from the P2-P5 ``large`` preset: the shared stages
and the head's P2-P4 projections, fusion and logits keep their trained weights; the layers
the student has no more, P5's stages and projection, are left out).
"""

from __future__ import annotations

import dataclasses
import os

__all__ = ["WarmStart", "warm_start"]


@dataclasses.dataclass(frozen=True)
class WarmStart:
    """What :func:`warm_start` did.

    Attributes:
      copied: variable paths set from the source.
      kept: the target's variable paths with no match (their own initialisation kept).
      skipped: the source's paths with a match of another shape (not copied).
    """

    copied: tuple[str, ...]
    kept: tuple[str, ...]
    skipped: tuple[str, ...]

    def line(self) -> str:
        return (
            f"warm start: {len(self.copied)} variables copied, {len(self.kept)} kept "
            f"(new), {len(self.skipped)} of another shape skipped"
        )


def warm_start(model, source) -> WarmStart:
    """Copies into ``model`` every variable whose path and shape match one of ``source``'s.

    Variable paths are ``<layer>/<weight>`` (``block3a_dwconv/kernel``,
    ``center_head/tap1_conv/kernel``); Keras makes them unique within a model.

    Args:
      model: the Keras model to start (built).
      source: a Keras model, or a ``.keras`` file of one.
    Returns:
      a :class:`WarmStart`.
    Raises:
      ValueError: nothing matches (not the same family).
    """
    if isinstance(source, (str, os.PathLike)):
        from attention_center.models import load_model

        source = load_model(source)
    available = {variable.path: variable for variable in source.weights}
    copied, kept, skipped = [], [], []
    for variable in model.weights:
        match = available.get(variable.path)
        if match is None:
            kept.append(variable.path)
        elif tuple(match.shape) != tuple(variable.shape):
            skipped.append(variable.path)
        else:
            variable.assign(match.numpy() if hasattr(match, "numpy") else match.value)
            copied.append(variable.path)
    if not copied:
        raise ValueError(
            f"warm start from {getattr(source, 'name', source)!r}: no variable of "
            "the same path and shape (another backbone family?)"
        )
    return WarmStart(tuple(copied), tuple(kept), tuple(skipped))
