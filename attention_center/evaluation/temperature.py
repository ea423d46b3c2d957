"""Choosing the head's temperature on a validation split (post-training calibration).

A model trained with the centre loss and the map loss (KL + CC against fixation densities)
makes a map whose low background, spread over the whole frame, pulls its gravity centre
towards the middle on images it has not seen (measured on model 3.0's validation split: on
web pages and charts its centres sit 0.06-0.14 of the width right of people's, while their
ranking is right). Scaling the logits by one factor ``T > 1`` before the sigmoid sharpens
the map and lessens that pull. :func:`fit_temperature` scores the model at every candidate
``T`` on the records of one split (the real model, through
:func:`attention_center.evaluation.evaluate.evaluate`) and keeps the ``T`` with the lowest
mean over datasets of their mean centre error (each dataset counts once, however many
images it has), ties going to the ``T`` closest to 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Optional

import numpy as np

from attention_center.evaluation.evaluate import evaluate

__all__ = ["DEFAULT_TEMPERATURES", "TemperatureFit", "fit_temperature"]

#: The candidates of ``attention-center calibrate``: 1 (no change) to 2 in steps of 0.1.
DEFAULT_TEMPERATURES = tuple(round(1.0 + 0.1 * i, 1) for i in range(11))


@dataclasses.dataclass
class TemperatureFit:
    """The scores behind the choice.

    Attributes:
      temperature: the chosen factor.
      temperatures: the candidates, in the order given.
      errors: dataset -> ``float64 [len(temperatures)]`` mean centre error over the image
        diagonal of that dataset's records at each candidate.
      num_records: dataset -> records scored.
      split: the split(s) scored.
    """

    temperature: float
    temperatures: tuple
    errors: dict
    num_records: dict
    split: tuple

    @property
    def objective(self) -> np.ndarray:
        """``float64 [len(temperatures)]``: the mean over datasets of :attr:`errors`."""
        return np.mean(np.stack(list(self.errors.values())), axis=0)

    def markdown(self) -> str:
        """The table: one row per candidate, a column per dataset and the objective."""
        datasets = sorted(self.errors)
        head = ["temperature", *(f"{d} ({self.num_records[d]})" for d in datasets), "mean"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
        objective = self.objective
        for i, t in enumerate(self.temperatures):
            cells = [f"{self.errors[d][i]:.4f}" for d in datasets] + [f"{objective[i]:.4f}"]
            mark = " (chosen)" if t == self.temperature else ""
            lines.append(f"| {t:g}{mark} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def fit_temperature(
    model,
    data_dir,
    split: str | Sequence[str] = "val",
    sources: Optional[Sequence[str]] = None,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
    batch_size: int = 8,
    progress: bool = False,
) -> TemperatureFit:
    """Scores ``model`` at each temperature on ``split`` of a ground-truth build; keeps the best.

    Args:
      model: an :class:`~attention_center.models.AttentionCenterModel` (its own temperature
        is replaced by each candidate, not multiplied).
      data_dir: the ground-truth build (``index.jsonl``) or ``tfds:...``
        (:func:`~attention_center.evaluation.evaluate.evaluate`).
      split: the split(s) to choose on: a validation split, never the one reported.
      sources: the record sources (default: every source of the build, any modality).
      temperatures: the candidates (> 0).
      batch_size: images per model call.
      progress: show a progress bar.
    Returns:
      :class:`TemperatureFit`.
    Raises:
      ValueError: no candidates, one not > 0, or no records in ``split``.
      TypeError: ``model`` is not an ``AttentionCenterModel``.
    """
    from attention_center.models.temperature import with_head_temperature

    temperatures = tuple(float(t) for t in temperatures)
    if not temperatures:
        raise ValueError("no candidate temperatures")
    models = [with_head_temperature(model, t) for t in temperatures]
    names = [f"T={t:g}" for t in temperatures]
    result = evaluate(
        data_dir,
        models,
        split=split,
        modality=None,
        sources=sources,
        batch_size=batch_size,
        progress=progress,
        names=names,
    )
    by_name = {m.name: m for m in result.methods}
    datasets = np.array([r["dataset"] for r in result.records])
    errors, counts = {}, {}
    for dataset in sorted(set(datasets)):
        rows = (datasets == dataset) & np.isfinite(by_name[names[0]].errors)
        if not rows.any():
            continue
        errors[dataset] = np.array([by_name[n].errors[rows].mean() for n in names])
        counts[dataset] = int(rows.sum())
    if not errors:
        raise ValueError(f"{data_dir}: no image of split {split!r} could be scored")
    objective = np.mean(np.stack(list(errors.values())), axis=0)
    best = min(range(len(temperatures)), key=lambda i: (objective[i], abs(temperatures[i] - 1)))
    splits = (split,) if isinstance(split, str) else tuple(split)
    return TemperatureFit(temperatures[best], temperatures, errors, counts, splits)
