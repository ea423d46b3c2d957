"""``attention-center evaluate``: score models and baselines on a ground-truth build.

Usage::

  attention-center evaluate --data GT --split test --modality eye \\
      --model default --model ../shared/anchors/google_center.tflite \\
      [--compare_to large] [--out_md results.md] [--out_json results.json]
  attention-center evaluate --data tfds:TFDS_DIR --split test --model default   # a prepared TFDS
  dataset

Prints the table of :func:`attention_center.evaluation.evaluate.evaluate` (image centre,
dataset-mean centre, each model, the human ceiling; centre errors, JPEG XL group
agreement, saliency metrics). Exit 1 when an image could not be read (it is named and
left out of every row), 2 for a usage error (no build, no records, unknown model, a bad
``--max_images`` / ``--batch_size`` / ``--density_sigma``, an ``--out_md`` / ``--out_json``
that is one of the inputs (a model, the build's ``index.jsonl``, frames or images) or the
other output), found before any work and before anything is written.
``--compare_to ROW`` adds, for every other row, its mean error over that row's as a ratio with
a paired bootstrap 95% interval over the images (:func:`attention_center.metrics.
paired_mean_ratio`): an interval that spans 1 means these images cannot tell the two apart.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Sequence

from absl import flags

from attention_center.core.atomic import atomic_write_text
from attention_center.core.command_flags import (
    EXIT_FAILURES,
    EXIT_OK,
    UsageError,
    output_file_flag,
    run_with_flags,
)
from attention_center.core.density import SIGMA_FRACTION

__all__ = ["FLAGS", "USAGE", "main", "run"]

USAGE = __doc__
FLAGS = flags.FlagValues()
flags.DEFINE_multi_string(
    "model",
    [],
    "A model: a preset name (default, large, large:keras), a .keras or .tflite file. Repeatable.",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "data",
    None,
    "Ground-truth build directory (with index.jsonl), or tfds:DIR / "
    "tfds:NAME/CONFIG: a prepared TFDS dataset (`ground-truth tfds`).",
    flag_values=FLAGS,
)
flags.DEFINE_string("split", "test", "Split to evaluate on.", flag_values=FLAGS)
flags.DEFINE_string(
    "train_split", "train", "Split the dataset-mean centre is taken from.", flag_values=FLAGS
)
flags.DEFINE_enum(
    "modality",
    "eye",
    ["eye", "mouse", "click", "any"],
    "Records of this modality.",
    flag_values=FLAGS,
)
flags.DEFINE_list(
    "source", None, "Only these sources (comma separated), e.g. osie_eye.", flag_values=FLAGS
)
flags.DEFINE_integer(
    "max_images",
    None,
    "Evaluate on the first N images only (N >= 1; default: all).",
    lower_bound=1,
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "batch_size", 8, "Images per model call (>= 1).", lower_bound=1, flag_values=FLAGS
)
flags.DEFINE_float(
    "density_sigma",
    SIGMA_FRACTION,
    "Sigma of the fixation density map as a fraction of the image's longer "
    "side (0.03 = 24 px, about 1 degree, on OSIE's 800x600); > 0.",
    flag_values=FLAGS,
)
flags.register_validator(
    "density_sigma",
    lambda value: value is not None and value > 0,
    message="--density_sigma must be > 0",
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "human_splits",
    10,
    "Random observer splits per image (human ceiling); >= 1.",
    lower_bound=1,
    flag_values=FLAGS,
)
flags.DEFINE_integer("seed", 0, "Seed of the observer splits.", flag_values=FLAGS)
flags.DEFINE_bool(
    "include_fallbacks", False, "Also score records whose centre is a fallback.", flag_values=FLAGS
)
flags.DEFINE_list(
    "compare_to",
    [],
    "Rows every other row is compared with (a row label or its unique start: a model's file "
    "or preset name, `dataset-mean`, `image centre`): the ratio of the mean errors with a "
    "paired bootstrap 95% interval over the images.",
    flag_values=FLAGS,
)
flags.DEFINE_string("out_md", None, "Write the markdown table here.", flag_values=FLAGS)
flags.DEFINE_string(
    "out_json", None, "Write summary and per-image scores here (JSON).", flag_values=FLAGS
)
flags.DEFINE_bool("progress", True, "Show a progress bar.", flag_values=FLAGS)


def main(argv: Sequence[str]) -> int:
    from attention_center.evaluation.evaluate import evaluate, markdown_table

    if len(argv) > 1:
        raise UsageError(f"unexpected arguments: {list(argv[1:])}")
    if not FLAGS.data:
        raise UsageError("--data is required (a ground-truth build directory)")
    _check_outputs()  # written at the end: a bad path, or an input's, is found now
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        evaluation = evaluate(
            FLAGS.data,
            FLAGS.model,
            split=FLAGS.split,
            modality=FLAGS.modality,
            sources=FLAGS.source,
            train_split=FLAGS.train_split,
            max_images=FLAGS.max_images,
            batch_size=FLAGS.batch_size,
            density_sigma=FLAGS.density_sigma,
            human_splits=FLAGS.human_splits,
            seed=FLAGS.seed,
            include_fallbacks=FLAGS.include_fallbacks,
            progress=FLAGS.progress,
        )
        comparisons = _comparisons(evaluation, FLAGS.compare_to, FLAGS.seed)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from error
    table = markdown_table(evaluation.methods) + _comparison_text(comparisons)
    print(table, end="")
    if FLAGS.out_md:
        atomic_write_text(FLAGS.out_md, table)
    if FLAGS.out_json:
        report = evaluation.to_json() | {
            "comparisons": [
                {"method": m, "baseline": b} | dataclasses.asdict(i) for m, b, i in comparisons
            ]
        }
        atomic_write_text(FLAGS.out_json, json.dumps(report, indent=1) + "\n")
    for failure in evaluation.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return EXIT_FAILURES if evaluation.failures else EXIT_OK


def _check_outputs() -> None:
    """``--out_md`` and ``--out_json``: writable, not folders, neither an input (a model,
    the build's index, frames or images) nor each other; else a :class:`UsageError` before
    any work."""
    from attention_center.evaluation.inputs import data_files, model_files, output_clash

    outputs = [("--out_md", FLAGS.out_md), ("--out_json", FLAGS.out_json)]
    for name, value in outputs:
        if value:
            output_file_flag(name[2:], value)

    def inputs():
        try:
            return model_files(FLAGS.model) | data_files(FLAGS.data)
        except (OSError, ValueError) as error:
            raise UsageError(f"--data {error}") from error

    problem = output_clash(outputs, inputs)
    if problem:
        raise UsageError(problem)


def _comparisons(evaluation, baselines: Sequence[str], seed: int) -> list[tuple]:
    """Every scored row but the human ceiling against each of ``baselines``:
    ``(method, baseline, RatioInterval)`` triples."""
    import numpy as np

    out = []
    for name in baselines:
        baseline = evaluation.method(name).name
        for method in evaluation.methods:
            if method.name == baseline or method.name.startswith("human ceiling"):
                continue
            if np.isfinite(method.errors).any():
                out.append(
                    (method.name, baseline, evaluation.ratio(method.name, baseline, seed=seed))
                )
    return out


def _comparison_text(comparisons: list[tuple]) -> str:
    text, current = "", None
    for method, baseline, interval in comparisons:
        if baseline != current:
            text, current = text + f"\nMean error over {baseline}'s:\n", baseline
        text += f"- {method}: {interval}\n"
    return text


def run(argv: Sequence[str] | None = None) -> None:
    """Parses ``argv`` into this module's :data:`FLAGS` and exits with :func:`main`'s status."""
    run_with_flags(FLAGS, main, USAGE, argv)


if __name__ == "__main__":
    run()
