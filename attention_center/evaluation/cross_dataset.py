"""The cross-dataset table: one row per held-out dataset, every model scored on images it never saw.

A row (:class:`HeldOutSet`) names a dataset, the ground-truth source whose centre is the
truth there (eye tracking where the set has it, else its most trustworthy proxy, the first
five BubbleView clicks, which land about halfway from the image centre to the eye ceiling on
OSIE and most of the way on web pages: see ``docs/proxies.md``), and the splits scored: the test
split for a set the reference models
were trained on (OSIE and Scene: the 1.3.0 model trained on their train and val splits),
every image for a set none of them saw. Each row is
:func:`attention_center.evaluation.evaluate.evaluate`
on those records, with

* the baselines: the image centre, the dataset-mean centre (that dataset's train split), the
  human split-half ceiling;
* the *shared* models, the same in every row (Google's ``center.tflite``, a preset...);
* the row's own *held-out* model, if given: a model trained without that dataset (leave one
  dataset out), so that the row measures generalisation to a kind of image not seen in
  training.

Errors are distances between predicted and true centres over the image diagonal, in original
pixels; "same group" is the fraction of images whose predicted centre falls in the true
centre's 256x256 JPEG XL group. :meth:`RowResult.ratio` compares two columns of a row: their
mean errors' ratio with a paired bootstrap interval over the row's images.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Optional

import numpy as np

from attention_center.evaluation.evaluate import evaluate
from attention_center.inference.predictors import load_predictor
from attention_center.metrics.intervals import RatioInterval, paired_mean_ratio

__all__ = [
    "HELD_OUT_SETS",
    "IN_DOMAIN_SETS",
    "HeldOutSet",
    "RowResult",
    "cross_dataset_table",
    "markdown_tables",
]

ALL_SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class HeldOutSet:
    """One row of the table.

    Attributes:
      dataset: the ``dataset`` field of the index rows (``"osie"``, ``"fiwi"``...).
      source: the source whose centre is the truth in this row.
      splits: the splits scored.
      label: the row's name in the table.
      modality: the source's modality (for the record selection).
      extra_sources: more sources scored in the same row (other images of the same kind).
    """

    dataset: str
    source: str
    splits: tuple[str, ...]
    label: str
    modality: str = "eye"
    extra_sources: tuple[str, ...] = ()

    @property
    def sources(self) -> list[str]:
        return [self.source, *self.extra_sources]


#: The rows of the project's table (the sources are those of ``docs/proxies.md``).
HELD_OUT_SETS = (
    HeldOutSet("osie", "osie_eye", ("test",), "OSIE photos (eye, test split)"),
    HeldOutSet("scene", "scene_eye", ("test",), "Scene photos (eye, test split)"),
    HeldOutSet("fiwi", "fiwi_eye", ALL_SPLITS, "FiWI web pages (eye, all)"),
    HeldOutSet(
        "salicon",
        "bv_salicon_click_30x30",
        ALL_SPLITS,
        "SALICON subset (clicks, all)",
        modality="click",
    ),
    HeldOutSet(
        "massvis",
        "massvis_click_fv_40x32",
        ALL_SPLITS,
        "MASSVIS charts (clicks, free viewing, all)",
        modality="click",
    ),
    HeldOutSet("gdi", "gdi_click_30x50", ALL_SPLITS, "GDI designs (clicks, all)", modality="click"),
)

#: In-domain rows: what a user of a model trained on these kinds of image gets. The model is
#: trained on the train split of every dataset (and selects no checkpoint on val), and scored
#: on the val and test splits of the web pages, charts, designs and the SALICON subset; their
#: dataset-mean centre (from the train split) is the baseline to beat there.
IN_DOMAIN_SETS = (
    HeldOutSet("fiwi", "fiwi_eye", ("val", "test"), "FiWI web pages (eye, val+test, in-domain)"),
    HeldOutSet(
        "salicon",
        "bv_salicon_click_30x30",
        ("val", "test"),
        "SALICON subset (clicks, val+test, in-domain)",
        modality="click",
    ),
    HeldOutSet(
        "massvis",
        "massvis_click_fv_40x32",
        ("val", "test"),
        "MASSVIS charts (clicks, 3 experiments, val+test, in-domain)",
        modality="click",
        extra_sources=("massvis_click_exp1_40x32", "massvis_click_exp2_40x32"),
    ),
    HeldOutSet(
        "gdi",
        "gdi_click_30x50",
        ("val", "test"),
        "GDI designs (clicks, val+test, in-domain)",
        modality="click",
    ),
)


@dataclasses.dataclass
class RowResult:
    """A row's scores: method name -> summary (``mean_error``, ``median_error``,
    ``same_group``, ``num_images``, ...), plus the row's images.

    ``errors`` holds each method's per-record errors (``float64 [N]``, over the diagonal; NaN:
    not scored) and ``image_ids`` the image of each record, for :meth:`ratio`.
    """

    row: HeldOutSet
    summaries: dict
    num_images: int
    failures: list
    errors: dict = dataclasses.field(default_factory=dict)
    image_ids: list = dataclasses.field(default_factory=list)

    def ratio(self, method: str, baseline: str, **kwargs) -> RatioInterval:
        """``method``'s mean error over ``baseline``'s on this row, with a paired bootstrap
        interval over the row's images (:func:`~attention_center.metrics.paired_mean_ratio`,
        which gets ``kwargs``).

        Raises:
          KeyError: either column was not scored in this row.
        """
        for name in (method, baseline):
            if name not in self.errors:
                raise KeyError(f"{self.row.label}: no column {name!r} (have {sorted(self.errors)})")
        return paired_mean_ratio(
            self.errors[method], self.errors[baseline], groups=self.image_ids, **kwargs
        )


def cross_dataset_table(
    build_dir,
    rows: Sequence[HeldOutSet] = HELD_OUT_SETS,
    models: Optional[Mapping[str, object]] = None,
    held_out_models: Optional[Mapping[str, object]] = None,
    held_out_name: str = "ours (never trained on these images)",
    batch_size: int = 8,
    progress: bool = False,
) -> list[RowResult]:
    """Scores every row.

    Args:
      build_dir: a ground-truth build holding every row's source.
      rows: the held-out sets.
      models: column name -> model spec, scored in every row.
      held_out_models: dataset -> the model spec trained without that dataset; its column
        is ``held_out_name``. Rows without one leave it empty.
      batch_size: images per model call.
      progress: progress bars.
    Returns:
      one :class:`RowResult` per row, in order.
    Raises:
      ValueError: a row has no records in the build, or a model cannot be loaded.
    """
    models = dict(models or {})
    held_out_models = dict(held_out_models or {})
    shared = [load_predictor(spec, batch_size=batch_size) for spec in models.values()]
    results = []
    for row in rows:
        predictors, names = list(shared), list(models)
        if row.dataset in held_out_models:
            predictors.append(load_predictor(held_out_models[row.dataset], batch_size=batch_size))
            names.append(held_out_name)
        evaluation = evaluate(
            build_dir,
            predictors,
            split=row.splits,
            modality=row.modality,
            sources=row.sources,
            batch_size=batch_size,
            progress=progress,
            names=names,
        )
        summaries, errors = {}, {}
        for method in evaluation.methods:
            name = method.name
            if name.startswith("dataset-mean centre"):
                name = "dataset-mean centre"
            elif name.startswith("human ceiling"):
                name = "human split-half"
            summaries[name] = method.summary()
            errors[name] = np.asarray(method.errors, dtype=np.float64)
        results.append(
            RowResult(
                row=row,
                summaries=summaries,
                num_images=evaluation.settings["num_images"],
                failures=list(evaluation.failures),
                errors=errors,
                image_ids=[record["image_id"] for record in evaluation.records],
            )
        )
    return results


def _cell(summary: Optional[dict], key: str, digits: int) -> str:
    value = None if summary is None else summary.get(key)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _images_cell(result: RowResult) -> str:
    """The row's image count, and its record count where a row scores an image more than once
    (a chart in three click experiments): the means weigh each record, the intervals resample
    images."""
    records = len(result.image_ids)
    if records and records != result.num_images:
        return f"{result.num_images} ({records} records)"
    return str(result.num_images)


def markdown_tables(results: Sequence[RowResult], columns: Sequence[str]) -> str:
    """Three markdown tables (mean error, median error, same 256px group), rows x ``columns``."""
    out = []
    for key, title, digits in (
        ("mean_error", "Mean centre error (fraction of the diagonal; lower is better)", 4),
        ("median_error", "Median centre error", 4),
        ("same_group", "Same 256x256 JPEG XL group as the true centre (higher is better)", 3),
    ):
        out += [
            f"**{title}**",
            "",
            "| held-out set | images | " + " | ".join(columns) + " |",
            "|---|---|" + "---|" * len(columns),
        ]
        for result in results:
            cells = [_cell(result.summaries.get(column), key, digits) for column in columns]
            out.append(
                f"| {result.row.label} | {_images_cell(result)} | " + " | ".join(cells) + " |"
            )
        out.append("")
    return "\n".join(out)
