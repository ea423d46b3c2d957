"""``attention-center ensemble``: combine trained models into one averaging model.

Usage::

  attention-center ensemble --model runs/a/model.keras --model runs/b/model.keras \\
      --out runs/ensemble/model.keras [--input_size 480x640] [--average centers|weights]

Writes one ``.keras`` file atomically: with ``--average centers`` (default) an
:class:`~attention_center.models.ensemble.AttentionCenterEnsemble` whose
centre is the mean of the members' centres (it runs every member: n times the size and
latency); with ``--average weights`` one :class:`AttentionCenterModel` whose weights are
the mean of the members' (a "model soup", :mod:`attention_center.models.soup`: a member's
size and latency; the members must share their architecture and their starting weights,
e.g. one recipe run with several ``--seed`` s from one ``--warm_start``). Atomically: a
temporary file then a rename; an existing ``--out`` is only replaced by a complete file, and
``--out`` may not be one of the inputs). Every member keeps its own
``internal_hw``. Exit status: 0; 2 for a usage error found before anything is
written: a bad flag, or a member that does not exist, is not a regular file (a FIFO is
never opened), cannot be loaded or is not an attention-centre model (each such file is
named on stderr), or, for ``--average weights``, members whose configs or weight shapes
differ (the difference is named); 1 when the ensemble cannot be written. The ensemble
exports with ``attention-center export --model OUT``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from absl import flags

from attention_center.core.atomic import atomic_path
from attention_center.core.command_flags import (
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    output_file_flag,
    run_with_flags,
)
from attention_center.core.frames import MODEL_FRAME_HW, parse_hw

__all__ = ["FLAGS", "USAGE", "build_ensemble_file", "main", "run"]

USAGE = __doc__


class EnsembleError(Exception):
    """A model that cannot be a member, with the file it came from."""


def build_ensemble_file(
    model_paths: Sequence[os.PathLike | str],
    out: os.PathLike | str,
    input_shape=(*MODEL_FRAME_HW, 3),
    average: str = "centers",
) -> Path:
    """Loads ``model_paths``, writes their ensemble to ``out`` (atomically), returns ``out``.

    Args:
      model_paths: ``.keras`` files of :class:`AttentionCenterModel` s (or ensembles,
        flattened into their members).
      out: the ``.keras`` file to write; must not be one of ``model_paths``.
      input_shape: ``(H, W, 3)`` of the ensemble's input.
      average: ``"centers"``: an :class:`AttentionCenterEnsemble` (the mean of the members'
        centres); ``"weights"``: one model with the mean of their weights
        (:func:`~attention_center.models.soup.weight_averaged_model`).
    Raises:
      EnsembleError: a file is missing, unreadable or not an attention-centre model;
        ``out`` is one of the inputs or not a ``.keras`` path; for ``"weights"``, an
        ensemble among the members, or members of different architectures.
    """

    from attention_center.core.files import not_a_file_reason
    from attention_center.inference.predictors import keras_file_problem
    from attention_center.models import AttentionCenterEnsemble, AttentionCenterModel, load_model

    if average not in ("centers", "weights"):
        raise EnsembleError(f"average must be 'centers' or 'weights', got {average!r}")
    out = Path(out)
    if out.suffix != ".keras":
        raise EnsembleError(f"{out}: the output must be a .keras file")
    problems, models = [], []
    for path in map(Path, model_paths):
        if path.exists() and out.exists() and os.path.samefile(path, out):
            raise EnsembleError(f"{out}: is also an input; write the ensemble elsewhere")
        if not path.is_file():
            reason = not_a_file_reason(path) or "not a regular file"
            problems.append(
                f"{path}: " + ("no such model file" if reason == "no such file" else reason)
            )
            continue
        problem = keras_file_problem(path)
        if problem:
            problems.append(f"{path}: {problem}")
            continue
        try:
            model = load_model(path)
        except Exception as error:  # Keras raises many types for a bad file
            problems.append(
                f"{path}: cannot load as a Keras model "
                f"({type(error).__name__}: {str(error).splitlines()[0][:200]})"
            )
            continue
        if not isinstance(model, (AttentionCenterModel, AttentionCenterEnsemble)):
            problems.append(f"{path}: a {type(model).__name__}, not an AttentionCenterModel")
            continue
        models.append(model)
    if problems:
        raise EnsembleError("\n".join(problems))
    if average == "weights":
        from attention_center.models.soup import weight_averaged_model

        try:
            ensemble = weight_averaged_model(models).with_input_shape(input_shape)
        except (TypeError, ValueError) as error:
            raise EnsembleError(
                f"cannot average the weights of {list(map(str, model_paths))}: {error}"
            ) from error
    else:
        ensemble = AttentionCenterEnsemble.from_models(models, input_shape=input_shape)
    with atomic_path(out, suffix=".keras") as temporary:
        ensemble.save(temporary)
    return out


FLAGS = flags.FlagValues()
flags.DEFINE_multi_string(
    "model", [], "A member .keras model. Repeat for each member.", flag_values=FLAGS
)
flags.DEFINE_string("out", None, "The ensemble .keras file to write.", flag_values=FLAGS)
flags.DEFINE_string(
    "input_size", "480x640", "Ensemble input HxW (Google's: 480x640).", flag_values=FLAGS
)
flags.DEFINE_enum(
    "average",
    "centers",
    ["centers", "weights"],
    "centers: one graph running every member, the mean of their centres; weights: one model "
    "with the mean of their weights (a model soup; members of one architecture and one start).",
    flag_values=FLAGS,
)


def main(argv: Sequence[str]) -> int:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments: {list(argv[1:])}")
    if not FLAGS.model or not FLAGS.out:
        raise UsageError("--model (one or more) and --out are required")
    try:
        height, width = parse_hw(FLAGS.input_size)
    except ValueError as error:
        raise UsageError(f"--input_size: {error}") from error
    output_file_flag("out", FLAGS.out)  # before loading any member
    try:
        out = build_ensemble_file(
            FLAGS.model, FLAGS.out, input_shape=(height, width, 3), average=FLAGS.average
        )
    except EnsembleError as error:  # a bad member or --out: a usage error, nothing written
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # the ensemble could not be written
        print(f"error: {error.filename or FLAGS.out}: {error.strerror or error}", file=sys.stderr)
        return EXIT_FAILURES
    kind = "weight average" if FLAGS.average == "weights" else "members"
    print(f"wrote {out} ({len(FLAGS.model)} {kind})")
    return EXIT_OK


def run(argv: Sequence[str] | None = None) -> None:
    """Parses ``argv`` into this module's :data:`FLAGS` and exits with :func:`main`'s status."""
    run_with_flags(FLAGS, main, USAGE, argv)


if __name__ == "__main__":
    run()
