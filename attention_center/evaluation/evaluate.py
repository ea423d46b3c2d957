"""Scores attention-centre models and baselines on a ground-truth build.

Rows of the table: the image centre, the dataset-mean centre (mean normalized
centre of the ``train_split``), each model (a model spec: a preset name, a ``.keras``
or ``.tflite`` file, Google's ``center.tflite`` included; see
:func:`attention_center.inference.predictors.load_predictor`), and the human
ceiling (split-half consistency). Columns: mean and median centre error over
the image diagonal, fraction of images whose predicted centre falls in the same
256x256 JPEG XL group as the true one, and NSS, CC, KLD, SIM and AUC-Judd of
the model's weighting map (``n/a`` for methods without one), and the number of
images. Errors are measured in original image pixels. See ``docs/evaluation.md``;
the command is ``attention-center evaluate`` (:mod:`attention_center.cli.evaluate`).

Each image is decoded once (:func:`attention_center.core.images.load_image`) and
fitted once per frame size (:func:`attention_center.core.images.resize_with_pad`); from a
prepared TFDS dataset (``data_dir="tfds:..."``, :mod:`attention_center.data.tfds_input`),
which holds frames and not the originals, the stored 480x640 frame is used as is or
refitted to other frame sizes with the original's geometry
(:func:`attention_center.data.stored_frames.refit_frame`);
models with the same frame size share the frames. An image that cannot be read
is reported and left out of every row.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Sequence
from typing import Optional

import numpy as np
from tqdm import tqdm

from attention_center.core.centers import (
    normalized_center_errors,
    same_jxl_group,
    summarize_center_errors,
)
from attention_center.core.density import SIGMA_FRACTION, density_map, sigma_for
from attention_center.core.ground_truth_index import resolve_image_path
from attention_center.core.images import ImageLoadError, load_image, resize_with_pad
from attention_center.data.selection import select
from attention_center.data.stored_frames import refit_frame
from attention_center.evaluation import baselines
from attention_center.inference.predictors import load_predictor
from attention_center.metrics.intervals import RatioInterval, paired_mean_ratio
from attention_center.metrics.saliency import (
    SALIENCY_METRICS,
    map_to_original,
    saliency_scores,
)

__all__ = ["COLUMNS", "Evaluation", "MethodResult", "evaluate", "markdown_table"]

log = logging.getLogger(__name__)

COLUMNS = ("mean_error", "median_error", "same_group") + SALIENCY_METRICS + ("num_images",)


# ----------------------------------------------------------------------------- models


def _model_names(specs: Sequence, predictors: Sequence) -> list[str]:
    """Row labels: ``default (model.tflite)`` for a preset, else the file name; the path
    where names repeat."""
    from attention_center.presets import list_presets

    presets = set(list_presets()) | {"bundled"}
    names = []
    for spec, predictor in zip(specs, predictors):
        name = getattr(predictor, "name", None) or type(predictor).__name__
        preset = str(spec).partition(":")[0] if isinstance(spec, str) else None
        names.append(f"{preset} ({name})" if preset in presets else name)
    return [
        str(spec) if names.count(name) > 1 and isinstance(spec, (str, os.PathLike)) else name
        for name, spec in zip(names, specs)
    ]


# ----------------------------------------------------------------------------- results


@dataclasses.dataclass
class MethodResult:
    """Per-record scores of one row of the table.

    Attributes:
      name: the row's label.
      errors: ``float64 [N]`` centre error over the diagonal (NaN: not scored).
      same_group: ``float64 [N]`` 1/0 (or a fraction, for the human ceiling).
      saliency: metric name -> ``float64 [N]``, or ``None`` without a map.
    """

    name: str
    errors: np.ndarray
    same_group: np.ndarray
    saliency: Optional[dict] = None

    def summary(self) -> dict:
        """``{"mean_error", "median_error", "same_group", "num_images", NSS, CC, KLD, SIM,
        AUC-Judd}``."""
        summary = summarize_center_errors(self.errors, self.same_group)
        for metric in SALIENCY_METRICS:
            values = None if self.saliency is None else self.saliency[metric]
            valid = None if values is None else values[np.isfinite(values)]
            summary[metric] = float(valid.mean()) if valid is not None and valid.size else None
        return summary


@dataclasses.dataclass
class Evaluation:
    """Everything :func:`evaluate` measured.

    Attributes:
      methods: one :class:`MethodResult` per table row.
      records: the evaluated index rows, in the order of the per-record arrays.
      failures: one line per image that could not be read (left out of every row).
      settings: the arguments, for the JSON report.
    """

    methods: list
    records: list
    failures: list
    settings: dict

    def method(self, name: str) -> MethodResult:
        """The row called ``name``, or the only row whose label starts with it (``"large"`` finds
        ``large (model.tflite)``, ``"dataset-mean"`` the dataset-mean centre).

        Raises:
          ValueError: no row, or several, match; the labels are listed.
        """
        exact = [m for m in self.methods if m.name == name]
        found = exact or [m for m in self.methods if m.name.startswith(name)]
        if len(found) != 1:
            labels = ", ".join(repr(m.name) for m in self.methods)
            what = "no row" if not found else f"{len(found)} rows"
            raise ValueError(f"{what} named {name!r}: the rows are {labels}")
        return found[0]

    def ratio(self, method: str, baseline: str, **kwargs) -> RatioInterval:
        """Row ``method``'s mean error over row ``baseline``'s (names as :meth:`method`), with a
        paired bootstrap interval over the images (:func:`~attention_center.metrics.
        paired_mean_ratio`, which gets ``kwargs``)."""
        return paired_mean_ratio(
            self.method(method).errors,
            self.method(baseline).errors,
            groups=[r["image_id"] for r in self.records],
            **kwargs,
        )

    def to_json(self) -> dict:
        def clean(values):
            return [None if not np.isfinite(v) else round(float(v), 6) for v in values]

        return {
            "settings": self.settings,
            "failures": self.failures,
            "methods": [
                {
                    "name": m.name,
                    "summary": m.summary(),
                    "per_image": {
                        "image_id": [r["image_id"] for r in self.records],
                        "source": [r["source"] for r in self.records],
                        "error": clean(m.errors),
                        "same_group": clean(m.same_group),
                        **({k: clean(v) for k, v in m.saliency.items()} if m.saliency else {}),
                    },
                }
                for m in self.methods
            ],
        }


def _format(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def markdown_table(methods: Sequence[MethodResult]) -> str:
    """The results as a markdown table, one row per method."""
    header = (
        "| method | mean error | median error | same JXL group | NSS | CC | KLD | SIM "
        "| AUC-Judd | images |"
    )
    lines = [header, "|" + "---|" * 10]
    for method in methods:
        s = method.summary()
        cells = [
            method.name,
            _format(s["mean_error"], 4),
            _format(s["median_error"], 4),
            _format(s["same_group"], 3),
        ]
        cells += [_format(s[m], 3) for m in SALIENCY_METRICS]
        cells.append(str(s["num_images"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- evaluation


def _true_centers(records) -> tuple[np.ndarray, np.ndarray]:
    centers = np.asarray([r["center"] for r in records], np.float64).reshape(-1, 2)
    sizes = np.asarray([r["original_hw"] for r in records], np.float64).reshape(-1, 2)
    return centers, sizes


def _center_scores(predicted, records) -> tuple[np.ndarray, np.ndarray]:
    true, sizes = _true_centers(records)
    errors = normalized_center_errors(predicted, true, sizes)
    return errors, same_jxl_group(predicted, true).astype(np.float64)


def _records_by_image(records, stored) -> list[tuple[str, list[int]]]:
    """``[(image key, record indices)]``: a TFDS dataset's records share their image's stored
    frame (keyed by ``frame_path``); a build's, the original image file."""
    by_image: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        key = record["frame_path"] if stored is not None else os.fspath(resolve_image_path(record))
        by_image.setdefault(key, []).append(i)
    return list(by_image.items())


def _loaded_images(items, stored, failures: list, usable: np.ndarray) -> list:
    """``[(uint8 [h, w, 3] image, record indices)]`` of ``items`` that decode; a failure is
    logged, added to ``failures`` and its records marked not ``usable``."""
    batch = []
    for key, indices in items:
        try:
            batch.append((load_image(key) if stored is None else stored[key], indices))
        except ImageLoadError as error:
            failures.append(str(error))
            log.error("%s", error)
            usable[indices] = False
    return batch


def _score_predictions(result, output, fitted, batch, records, densities, density_sigma):
    """Fills ``result``'s errors, group agreement and (with a weight map) saliency scores from
    one model call. ``fitted``: ``[(frame, FrameTransform)]`` of ``batch``'s images."""
    n = len(records)
    weight_maps = output.get("weight_map")
    for k, ((_, transform), (_, indices)) in enumerate(zip(fitted, batch)):
        cx, cy = transform.to_original(float(output["center"][k][0]), float(output["center"][k][1]))
        picked = [records[i] for i in indices]
        errors, same = _center_scores(np.repeat(np.array([[cx, cy]]), len(picked), 0), picked)
        result.errors[indices] = errors
        result.same_group[indices] = same
        if weight_maps is None:
            continue
        if result.saliency is None:
            result.saliency = {m: np.full(n, np.nan) for m in SALIENCY_METRICS}
        original_map = map_to_original(weight_maps[k], transform)
        for i in indices:
            if i not in densities:
                hw = records[i]["original_hw"]
                densities[i] = density_map(records[i]["points"], hw, sigma_for(hw, density_sigma))
            scores = saliency_scores(original_map, records[i]["points"], densities[i])
            for metric, value in scores.items():
                result.saliency[metric][i] = value


def _score_models(
    predictors, results, records, stored, batch_size, density_sigma, progress, failures, usable
) -> None:
    """Runs every predictor over the records' images, a batch at a time, each image decoded
    once and fitted once per model frame size; fills ``results`` (one per predictor)."""
    images = _records_by_image(records, stored)
    frame_sizes = sorted({tuple(int(v) for v in p.frame_hw) for p in predictors})
    densities: dict[int, np.ndarray] = {}
    bar = tqdm(total=len(images), desc="evaluate", unit="image", disable=not progress)
    for start in range(0, len(images), batch_size):
        items = images[start : start + batch_size]
        batch = _loaded_images(items, stored, failures, usable)
        bar.update(len(items))
        if not batch:
            continue
        for frame_hw in frame_sizes:
            fitted = [
                resize_with_pad(image, frame_hw)
                if stored is None
                else refit_frame(image, records[indices[0]]["original_hw"], frame_hw)
                for image, indices in batch
            ]
            frames = np.stack([frame for frame, _ in fitted])
            for predictor, result in zip(predictors, results):
                if tuple(int(v) for v in predictor.frame_hw) == frame_hw:
                    output = predictor.predict_frames(frames)
                    _score_predictions(
                        result, output, fitted, batch, records, densities, density_sigma
                    )
    bar.close()


def _baseline_rows(data_dir, records, train_split, modality, sources, include_fallbacks) -> list:
    """The image-centre row and, when ``train_split`` has records, the dataset-mean row."""
    methods = [
        MethodResult(
            "image centre", *_center_scores(baselines.image_center_predictions(records), records)
        )
    ]
    train = select(
        data_dir,
        train_split,
        modality=modality,
        sources=sources,
        include_fallbacks=include_fallbacks,
    ).records
    if train:
        left_out = ", each image's own left out" if baselines.images_shared(train, records) else ""
        methods.append(
            MethodResult(
                f"dataset-mean centre ({train_split}, {len(train)} records{left_out})",
                *_center_scores(baselines.dataset_mean_predictions(train, records), records),
            )
        )
    else:
        log.warning("no %r records: no dataset-mean centre row", train_split)
    return methods


def _blank_unusable(methods, usable: np.ndarray) -> None:
    """NaN for every row's scores of records whose image could not be read."""
    for method in methods:
        method.errors[~usable] = np.nan
        method.same_group[~usable] = np.nan
        if method.saliency:
            for values in method.saliency.values():
                values[~usable] = np.nan


def evaluate(
    data_dir,
    models: Sequence = (),
    split: str | Sequence[str] = "test",
    modality: Optional[str] = "eye",
    sources: Optional[Sequence[str]] = None,
    train_split: str = "train",
    max_images: Optional[int] = None,
    batch_size: int = 8,
    density_sigma: float = SIGMA_FRACTION,
    human_splits: int = 10,
    seed: int = 0,
    include_fallbacks: bool = False,
    progress: bool = True,
    names: Optional[Sequence[str]] = None,
) -> Evaluation:
    """Scores baselines, models and the human ceiling on one split of a ground-truth build.

    Args:
      data_dir: the ground-truth build (``index.jsonl``), or ``tfds:DIR`` /
        ``tfds:NAME/CONFIG`` (a prepared TFDS dataset; :mod:`attention_center.data.tfds_input`).
      models: model specs (preset names such as ``"default"``, ``.keras``/``.tflite``
        paths, ``keras.Model`` or ``Predictor`` objects; see
        :func:`~attention_center.inference.predictors.load_predictor`).
      split: a split name, or several (``("train", "val", "test")`` for every image).
      modality, sources, include_fallbacks, max_images: select the
        records (see :func:`attention_center.core.ground_truth_index.select_records`).
      train_split: split the dataset-mean centre is taken from (same filters).
      batch_size: images per model call.
      density_sigma: Gaussian sigma of the fixation density map (CC, KLD,
        SIM), as a fraction of the image's longer side
        (:func:`attention_center.core.density.density_map`).
      human_splits: random observer splits per image for the human ceiling.
      seed: seeds those splits.
      progress: show a progress bar.
      names: the models' row labels (default: from their files or presets).
    Returns:
      :class:`Evaluation`.
    Raises:
      ValueError: no records selected, or a model cannot be loaded
        (``attention_center.inference.predictors.ModelLoadError``).
    """
    chosen = select(
        data_dir,
        split,
        modality=modality,
        sources=sources,
        include_fallbacks=include_fallbacks,
        max_images=max_images,
    )
    records, stored = chosen.records, chosen.frames  # stored: None unless a TFDS dataset
    if not records:
        raise ValueError(
            f"{data_dir}: no records for split={split!r} modality={modality!r} sources={sources!r}"
        )
    predictors = [load_predictor(m, batch_size=batch_size) for m in models]
    names = list(names) if names is not None else _model_names(models, predictors)
    if len(names) != len(predictors):
        raise ValueError(f"{len(names)} names for {len(predictors)} models")
    n = len(records)
    failures: list[str] = []
    usable = np.ones(n, bool)
    model_results = [MethodResult(name, np.full(n, np.nan), np.full(n, np.nan)) for name in names]
    if predictors:
        _score_models(
            predictors,
            model_results,
            records,
            stored,
            batch_size,
            density_sigma,
            progress,
            failures,
            usable,
        )
    methods = _baseline_rows(data_dir, records, train_split, modality, sources, include_fallbacks)
    methods += model_results
    methods.append(
        MethodResult(
            f"human ceiling (split-half, {human_splits} splits)",
            *baselines.split_half_consistency(records, num_splits=human_splits, seed=seed),
        )
    )
    _blank_unusable(methods, usable)  # every row on the same images
    settings = {
        "data": os.fspath(data_dir),
        "split": split,
        "modality": modality,
        "sources": list(sources) if sources else None,
        "train_split": train_split,
        "models": [os.fspath(m) if isinstance(m, (str, os.PathLike)) else repr(m) for m in models],
        "num_records": n,
        "num_images": len({r["image_id"] for r in records}),
        "density_sigma": density_sigma,
        "human_splits": human_splits,
        "seed": seed,
        "include_fallbacks": include_fallbacks,
    }
    return Evaluation(methods=methods, records=records, failures=failures, settings=settings)
