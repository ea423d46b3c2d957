"""``attention-center calibrate``: choose the head's temperature on a validation split.

Usage::

  attention-center calibrate --model runs/v3/model.keras --data gt2 --split val \\
      --out runs/v3_calibrated/model.keras [--sources osie_eye,...] \\
      [--temperatures 1,1.1,...,2] [--markdown runs/v3_calibrated/temperature.md]

Scores the model at every candidate temperature (the factor on the head's logits before the
sigmoid; :mod:`attention_center.evaluation.temperature`) on the records of ``--split``
(choose on a validation split, report on another), prints the table of mean centre errors per
dataset, and writes the model at the chosen temperature to ``--out`` (``.keras``,
atomically; ``--out`` and ``--markdown`` may be neither an input, the model or a file of the
build, nor each other: the inputs are never changed). Export it with
``attention-center export --model OUT``.

Exit status: 0; 2 for a usage error found before anything is written (a bad flag, a model
that cannot be loaded or has no head temperature, a build without records in the split); 1
when the output cannot be written.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from absl import flags

from attention_center.core.atomic import atomic_path, atomic_write_bytes
from attention_center.core.command_flags import (
    EXIT_FAILURES,
    EXIT_OK,
    UsageError,
    output_file_flag,
    run_with_flags,
)

__all__ = ["FLAGS", "USAGE", "main", "run"]

USAGE = __doc__

FLAGS = flags.FlagValues()
flags.DEFINE_string(
    "model", None, "The trained .keras model (or a preset, e.g. default:keras).", flag_values=FLAGS
)
flags.DEFINE_string(
    "data", None, "Ground-truth build (or tfds:...) to choose on.", flag_values=FLAGS
)
flags.DEFINE_list(
    "split", ["val"], "Split(s) to choose on (never the reported one).", flag_values=FLAGS
)
flags.DEFINE_list("sources", [], "Record sources (default: every source).", flag_values=FLAGS)
flags.DEFINE_list(
    "temperatures",
    [],
    "Candidate temperatures (default: 1 to 2 in steps of 0.1).",
    flag_values=FLAGS,
)
flags.DEFINE_string("out", None, "The calibrated .keras model to write.", flag_values=FLAGS)
flags.DEFINE_string("markdown", None, "Also write the table here.", flag_values=FLAGS)
flags.DEFINE_integer(
    "batch_size", 8, "Images per model call (>= 1).", lower_bound=1, flag_values=FLAGS
)
flags.DEFINE_bool("progress", True, "Progress bar.", flag_values=FLAGS)


def _temperatures() -> tuple:
    from attention_center.evaluation.temperature import DEFAULT_TEMPERATURES

    if not FLAGS.temperatures:
        return DEFAULT_TEMPERATURES
    try:
        values = tuple(float(t) for t in FLAGS.temperatures)
    except ValueError as error:
        raise UsageError(f"--temperatures: {error}") from error
    if not all(t > 0 for t in values):
        raise UsageError(f"--temperatures: every value must be > 0, got {list(values)}")
    return values


def _load(spec: str):
    """``(path, model)`` of ``--model``, or a :class:`UsageError` naming the file and why."""
    from attention_center.core.files import not_a_file_reason
    from attention_center.inference.predictors import ModelLoadError, load_keras_file
    from attention_center.models import AttentionCenterModel
    from attention_center.presets import PresetError, resolve_model

    try:
        path = resolve_model(spec, fmt="keras")
    except PresetError as error:
        raise UsageError(f"--model: {error}") from error
    if not path.is_file():
        raise UsageError(f"--model {path}: {not_a_file_reason(path) or 'not a regular file'}")
    try:
        model = load_keras_file(path)
    except ModelLoadError as error:
        raise UsageError(f"--model {error}") from error
    if not isinstance(model, AttentionCenterModel):
        raise UsageError(
            f"--model {path}: a {type(model).__name__}, not an AttentionCenterModel "
            "(calibrate an ensemble's members, then ensemble them)"
        )
    return path, model


def _check_outputs(out: Path) -> None:
    """``--out`` and ``--markdown``: neither an input (the model, the build's index, frames or
    images) nor each other; a :class:`UsageError` before the model is loaded."""
    from attention_center.core.files import file_identity
    from attention_center.evaluation.inputs import data_files, model_files, output_clash

    if FLAGS.markdown:
        output_file_flag("markdown", FLAGS.markdown)
    models = model_files([FLAGS.model], fmt="keras")
    if file_identity(out) in models:
        raise UsageError(f"--out {out}: is the input model; write the calibrated one elsewhere")

    def inputs():
        try:
            return models | data_files(FLAGS.data)
        except (OSError, ValueError) as error:
            raise UsageError(f"--data {error}") from error

    problem = output_clash([("--out", out), ("--markdown", FLAGS.markdown)], inputs)
    if problem:
        raise UsageError(problem)


def main(argv: Sequence[str]) -> int:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments: {list(argv[1:])}")
    if not FLAGS.model or not FLAGS.data or not FLAGS.out:
        raise UsageError("--model, --data and --out are required")
    out = output_file_flag("out", FLAGS.out)
    if out.suffix != ".keras":
        raise UsageError(f"--out {out}: the output must be a .keras file")
    temperatures = _temperatures()
    _check_outputs(out)
    path, model = _load(FLAGS.model)

    from attention_center.evaluation.temperature import fit_temperature
    from attention_center.models.temperature import with_head_temperature

    try:
        fit = fit_temperature(
            model,
            FLAGS.data,
            split=FLAGS.split,
            sources=FLAGS.sources or None,
            temperatures=temperatures,
            batch_size=FLAGS.batch_size,
            progress=FLAGS.progress,
        )
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(f"--data {FLAGS.data}: {error}") from error
    table = fit.markdown()
    print(table)
    objective = dict(zip(fit.temperatures, fit.objective))
    line = f"chosen temperature {fit.temperature:g} on split {'+'.join(fit.split)}: "
    line += f"mean over datasets {objective[fit.temperature]:.4f}"
    if 1.0 in objective:
        line += f" (at 1: {objective[1.0]:.4f})"
    print(line)
    calibrated = with_head_temperature(model, fit.temperature)
    try:
        with atomic_path(out, suffix=".keras") as temporary:
            calibrated.save(temporary)
        if FLAGS.markdown:
            text = (
                f"Temperature chosen on split {'+'.join(fit.split)} of {FLAGS.data} for "
                f"{path}: **{fit.temperature:g}**\n\n{table}\n"
            )
            atomic_write_bytes(FLAGS.markdown, text.encode("utf-8"))
    except OSError as error:
        print(f"error: {error.filename or out}: {error.strerror or error}", file=sys.stderr)
        return EXIT_FAILURES
    print(f"wrote {Path(out)} (head temperature {fit.temperature:g})")
    return EXIT_OK


def run(argv: Sequence[str] | None = None) -> None:
    """Parses ``argv`` into this module's :data:`FLAGS` and exits with :func:`main`'s status."""
    run_with_flags(FLAGS, main, USAGE, argv)


if __name__ == "__main__":
    run()
