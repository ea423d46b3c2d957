"""``attention-center encode``: centre-first progressive JPEG XL for a folder of images.

Usage::

  attention-center encode --image_dir IN --output_dir OUT [--encoder cjxl]
      [--lite_model_file M] [--new_suffix jxl] [--dry_run] [--verbose]
      [--skip_existing] [--jobs N] [-- extra cjxl flags]

Keeps the flags of Google's ``encode_with_centers.py`` (everything after ``--`` goes to
cjxl; ``--lite_model_file`` is ``--model``). Each image's centre is predicted, mapped to
the file's stored orientation and passed as ``--group_order 1 --center_x X --center_y Y``
(by default moved, within the best group and quarter, to the point whose group order
makes the predicted region final soonest: ``--center_strategy``, docs/progressive.md);
outputs mirror the input tree (``a/b.jpg`` -> ``OUT/a/b.jpg.jxl``) and are written
atomically, never outside ``OUT`` nor over an input. Each bad file (and each folder that
cannot be listed) is reported and the others finish. Exit 0 all done; 1 some images or
folders failed (each named); 2 usage error, before any work (bad flag, no such folder, an
output folder that is a file or cannot be written, a ``--new_suffix`` that is not a plain
file-name ending, extra cjxl flags that cjxl refuses on a tiny trial image); 130
interrupted (Ctrl-C, SIGTERM: every cjxl is stopped, the temporaries removed and the
summary so far printed; ``--skip_existing`` resumes). ``--dry_run``/``--verbose`` print
shell-quoted commands. Formats cjxl cannot read (WebP, TIFF, BMP, CMYK JPEG, grey PNG
under 8 bits) go through a temporary PNG of the image's own pixels (alpha, ICC profile
and 16-bit grey kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from absl import flags

from attention_center.core.command_flags import (
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    define_cjxl_choice_flags,
    define_model_flags,
    max_pixels_flag,
)

__all__ = ["FLAGS", "USAGE", "main"]

USAGE = __doc__
FLAGS = flags.FlagValues()
define_model_flags(FLAGS)
flags.DEFINE_string(
    "lite_model_file",
    None,
    "Same as --model (the name Google's encode_with_centers.py uses).",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "image_dir", None, "Folder of input images (walked recursively).", flag_values=FLAGS
)
flags.DEFINE_string(
    "output_dir", None, "Folder for the .jxl files (input tree mirrored).", flag_values=FLAGS
)
flags.DEFINE_string("encoder", "cjxl", "cjxl binary, a path or a name on PATH.", flag_values=FLAGS)
flags.DEFINE_string(
    "new_suffix",
    "jxl",
    "Output suffix (a.jpg -> a.jpg.jxl): a plain file-name ending, no path separator.",
    flag_values=FLAGS,
)
flags.DEFINE_bool(
    "dry_run", False, "Predict and print the cjxl commands, write nothing.", flag_values=FLAGS
)
flags.DEFINE_bool("verbose", False, "Print each cjxl command.", flag_values=FLAGS)
flags.DEFINE_bool(
    "skip_existing", False, "Leave images whose output exists (resume).", flag_values=FLAGS
)
flags.DEFINE_integer(
    "jobs", None, "cjxl processes at once (default: all CPUs).", lower_bound=1, flag_values=FLAGS
)
flags.DEFINE_bool("recursive", True, "Walk sub-folders of --image_dir.", flag_values=FLAGS)
flags.DEFINE_bool("progress", True, "Show a progress bar on stderr.", flag_values=FLAGS)
# --- issue 19: which centre cjxl gets (docs/progressive.md) ---
define_cjxl_choice_flags(FLAGS)


def _model_flag():
    if FLAGS.model and FLAGS.lite_model_file and FLAGS.model != FLAGS.lite_model_file:
        raise UsageError("--model and --lite_model_file name different models; give one")
    return FLAGS.model or FLAGS.lite_model_file


def main(argv: Sequence[str], encoder_flags: Sequence[str] = ()) -> int:
    """``argv``: ``[prog]`` after flag parsing; ``encoder_flags``: what followed ``--``."""
    from attention_center.core.files import OutputFolderError, not_a_file_reason
    from attention_center.core.images import ignore_corrupt_exif_warnings
    from attention_center.inference.predictors import ModelLoadError, load_predictor
    from attention_center.jxl.batch import EncodeInterrupted, check_new_suffix, encode_directory
    from attention_center.jxl.defaults import with_default_flags
    from attention_center.jxl.encoder import EncoderFlagsError, EncoderNotFoundError

    if len(argv) > 1:
        raise UsageError(
            f"encode takes no positional arguments (got {list(argv[1:])}); cjxl flags go after --"
        )
    if not FLAGS.image_dir:
        raise UsageError("encode needs --image_dir")
    if not Path(FLAGS.image_dir).is_dir():
        reason = not_a_file_reason(FLAGS.image_dir)  # a loop, a broken link, no such file
        raise UsageError(
            f"--image_dir {FLAGS.image_dir}: not a directory"
            + ("" if reason in (None, "not a regular file") else f" ({reason})")
        )
    if not FLAGS.output_dir and not FLAGS.dry_run:
        raise UsageError("encode needs --output_dir (or --dry_run)")
    try:
        check_new_suffix(FLAGS.new_suffix)
    except ValueError as error:
        raise UsageError(f"--{error}") from error
    ignore_corrupt_exif_warnings()
    if FLAGS.cjxl_defaults:
        encoder_flags = with_default_flags(encoder_flags)
    try:
        predictor = load_predictor(
            _model_flag(), num_threads=FLAGS.model_threads, batch_size=FLAGS.batch_size
        )
        summary = encode_directory(
            FLAGS.image_dir,
            FLAGS.output_dir,
            predictor,
            encoder=FLAGS.encoder,
            new_suffix=FLAGS.new_suffix,
            extra_flags=encoder_flags,
            jobs=FLAGS.jobs,
            dry_run=FLAGS.dry_run,
            skip_existing=FLAGS.skip_existing,
            verbose=FLAGS.verbose,
            progress=FLAGS.progress,
            recursive=FLAGS.recursive,
            batch_size=FLAGS.batch_size,
            center_strategy=FLAGS.center_strategy,
            max_pixels=max_pixels_flag(FLAGS),
        )
    except (ModelLoadError, EncoderNotFoundError, NotADirectoryError) as error:
        raise UsageError(str(error)) from error
    except OutputFolderError as error:
        raise UsageError(f"--output_dir {error}") from error
    except EncoderFlagsError as error:
        raise UsageError(str(error)) from error
    except EncodeInterrupted as interrupted:
        print(interrupted.summary.format(), flush=True)
        return EXIT_INTERRUPTED
    print(summary.format())
    return EXIT_OK if summary.ok else EXIT_FAILURES


def run(argv: Sequence[str] | None = None) -> None:
    """Parses ``argv`` (``[prog, flags..., "--", cjxl flags...]``), exits with :func:`main`'s
    status."""
    import sys

    from attention_center.core.command_flags import run_with_flags, split_encoder_flags

    ours, encoder_flags = split_encoder_flags(sys.argv if argv is None else argv)
    run_with_flags(FLAGS, lambda rest: main(rest, encoder_flags), USAGE, ours)
