"""The ``attention-center`` command (also ``python -m attention_center``).

Subcommands::

  attention-center predict PATHS... [--model M] [--format json|csv] [--overlay DIR]
  attention-center encode --image_dir IN --output_dir OUT [--encoder cjxl]
      [--lite_model_file M] [--new_suffix jxl] [--dry_run] [--verbose]
      [--skip_existing] [--jobs N] [-- extra cjxl flags]

``predict`` prints one record per image: (x, y) in original (displayed) pixels,
0-based pixel centres. ``encode`` keeps the flags of Google's
``encode_with_centers.py`` (everything after ``--`` goes to cjxl). Both report
each bad file on stderr, finish the others, and exit with status 1 when any
file failed (2 for a usage error).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from absl import app, flags

__all__ = ["main", "run"]

_COMMANDS = ("predict", "encode")

# Shared.
flags.DEFINE_string("model", None, "Model file: .keras or .tflite (Google's center.tflite "
                    "works). Default: the bundled model.")
flags.DEFINE_string("lite_model_file", None, "Same as --model (the name Google's "
                    "encode_with_centers.py uses).")
flags.DEFINE_integer("batch_size", 8, "Images per model batch.", lower_bound=1)
flags.DEFINE_integer("model_threads", None, "TFLite interpreter threads (default: all CPUs).",
                     lower_bound=1)
flags.DEFINE_bool("progress", True, "Show a progress bar on stderr.")
# predict
flags.DEFINE_enum("format", "json", ["json", "csv"], "predict: output format on stdout.")
flags.DEFINE_string("overlay", None, "predict: write <DIR>/<name>.overlay.png, the image with "
                    "its centre marked and the model's weighting map as a heatmap.")
# encode (Google's flag names first)
flags.DEFINE_string("image_dir", None, "encode: folder of input images (walked recursively).")
flags.DEFINE_string("output_dir", None, "encode: folder for the .jxl files (input tree mirrored).")
flags.DEFINE_string("encoder", "cjxl", "encode: cjxl binary, a path or a name on PATH.")
flags.DEFINE_string("new_suffix", "jxl", "encode: output suffix (a.jpg -> a.jpg.jxl).")
flags.DEFINE_bool("dry_run", False, "encode: predict and print the cjxl commands, write nothing.")
flags.DEFINE_bool("verbose", False, "encode: print each cjxl command.")
flags.DEFINE_bool("skip_existing", False, "encode: leave images whose output exists (resume).")
flags.DEFINE_integer("jobs", None, "encode: cjxl processes at once (default: all CPUs).",
                     lower_bound=1)
flags.DEFINE_bool("recursive", True, "encode: walk sub-folders of --image_dir.")

FLAGS = flags.FLAGS

_USAGE = __doc__.split("Subcommands::")[1].split("``predict``")[0]


class UsageError(Exception):
    """A bad command line (exit status 2)."""


def _split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``[prog, ..., "--", cjxl flags...]`` -> (our part, the part after the first ``--``)."""
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def parse_flags(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """absl parser for :func:`app.run`: returns (positional args, extra cjxl flags)."""
    ours, extra = _split_argv(argv)
    try:
        positional = FLAGS(ours)
    except flags.Error as error:
        sys.stderr.write(f"attention-center: {error}\n{_USAGE}")
        sys.exit(2)
    return positional, extra


def _predictor(model_flag: Optional[str]):
    from attention_center.model_io import load_predictor

    return load_predictor(model_flag, num_threads=FLAGS.model_threads,
                          batch_size=FLAGS.batch_size)


def _model_flag() -> Optional[str]:
    if FLAGS.model and FLAGS.lite_model_file and FLAGS.model != FLAGS.lite_model_file:
        raise UsageError("--model and --lite_model_file name different models; give one")
    return FLAGS.model or FLAGS.lite_model_file


def _expand_paths(paths: Sequence[str]) -> list[tuple[Path, Path]]:
    """Command-line paths -> (image path, root it is named relative to); folders walked."""
    from attention_center.encode import find_images

    items = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            images, _ = find_images(path)
            items += [(image, path) for image in images]
        else:  # a missing or bad file is reported per file by the predictor
            items.append((path, path.parent))
    return items


def _overlay_paths(items: list[tuple[Path, Path]], overlay_dir: Path) -> list[Path]:
    """``overlay_dir/<path relative to its root>.overlay.png``, made unique."""
    seen: set[Path] = set()
    out = []
    for path, root in items:
        relative = path.relative_to(root)
        candidate = overlay_dir / relative.parent / f"{relative.name}.overlay.png"
        n = 2
        while candidate in seen:
            candidate = overlay_dir / relative.parent / f"{relative.name}.{n}.overlay.png"
            n += 1
        seen.add(candidate)
        out.append(candidate)
    return out


def predict_command(paths: Sequence[str], extra: Sequence[str]) -> int:
    """``predict``: centres of images on stdout (JSON or CSV); overlays on request."""
    from tqdm import tqdm

    from attention_center.overlay import overlay_image, weight_map_on_image, write_overlay
    from attention_center.prediction import predict_images

    if extra:
        raise UsageError("flags after -- go to cjxl: only for encode")
    if not paths:
        raise UsageError("predict needs image files or folders")
    items = _expand_paths(paths)
    predictor = _predictor(_model_flag())
    overlay_dir = Path(FLAGS.overlay) if FLAGS.overlay else None
    overlays = _overlay_paths(items, overlay_dir) if overlay_dir else [None] * len(items)
    inputs = {path.resolve() for path, _ in items}
    rows, failures = [], 0
    stream = predict_images([path for path, _ in items], predictor,
                            batch_size=FLAGS.batch_size, keep_images=overlay_dir is not None,
                            keep_weight_maps=overlay_dir is not None)
    bar = tqdm(total=len(items), unit="img", desc="predict", disable=not FLAGS.progress,
               dynamic_ncols=True)
    for prediction, overlay_path in zip(stream, overlays):
        bar.update(1)
        error = prediction.error
        if error is None and overlay_path is not None:
            if overlay_path.resolve() in inputs:
                error = f"overlay {overlay_path} would overwrite an input; refused"
            else:
                heat = (None if prediction.weight_map is None
                        else weight_map_on_image(prediction.weight_map, prediction.transform))
                try:
                    write_overlay(overlay_path, overlay_image(prediction.image, prediction.center,
                                                              heat))
                except OSError as os_error:
                    error = f"cannot write overlay {overlay_path}: {os_error}"
            prediction.image = None
        row = {"path": prediction.source, "center": None, "original_hw": None, "error": error}
        if prediction.center is not None:
            row["center"] = [round(float(v), 2) for v in prediction.center]
            row["original_hw"] = [int(v) for v in prediction.original_hw]
        if error is not None:
            failures += 1
            bar.write(f"attention-center: {prediction.source}: {error}", file=sys.stderr)
        rows.append(row)
    bar.close()
    sys.stdout.write(format_rows(rows, FLAGS.format))
    sys.stdout.flush()
    if failures:
        sys.stderr.write(f"attention-center: {failures} of {len(rows)} images failed\n")
    return 1 if failures else 0


def format_rows(rows: list[dict], fmt: str) -> str:
    """predict records -> JSON (a list) or CSV (``path,x,y,height,width,error``)."""
    if fmt == "json":
        return "[\n" + ",\n".join(json.dumps(row) for row in rows) + ("\n]\n" if rows else "]\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "x", "y", "height", "width", "error"])
    for row in rows:
        x, y = row["center"] or ("", "")
        h, w = row["original_hw"] or ("", "")
        writer.writerow([row["path"], x, y, h, w, row["error"] or ""])
    return buffer.getvalue()


def encode_command(positional: Sequence[str], extra: Sequence[str]) -> int:
    """``encode``: centre-first progressive JPEG XL for a folder of images."""
    from attention_center.encode import encode_directory

    if positional:
        raise UsageError(f"encode takes no positional arguments (got {list(positional)}); "
                         "cjxl flags go after --")
    if not FLAGS.image_dir:
        raise UsageError("encode needs --image_dir")
    if not Path(FLAGS.image_dir).is_dir():
        raise UsageError(f"--image_dir {FLAGS.image_dir}: not a directory")
    if not FLAGS.output_dir and not FLAGS.dry_run:
        raise UsageError("encode needs --output_dir (or --dry_run)")
    predictor = _predictor(_model_flag())
    summary = encode_directory(
        FLAGS.image_dir, FLAGS.output_dir, predictor, encoder=FLAGS.encoder,
        new_suffix=FLAGS.new_suffix, extra_flags=extra, jobs=FLAGS.jobs,
        dry_run=FLAGS.dry_run, skip_existing=FLAGS.skip_existing, verbose=FLAGS.verbose,
        progress=FLAGS.progress, recursive=FLAGS.recursive, batch_size=FLAGS.batch_size)
    print(summary.format())
    return 0 if summary.ok else 1


def main(parsed) -> int:
    """Entry point after flag parsing: ``parsed = (positional args, extra cjxl flags)``."""
    from attention_center.encode import EncoderNotFoundError
    from attention_center.model_io import ModelLoadError

    positional, extra = parsed
    args = list(positional[1:])
    try:
        if not args or args[0] not in _COMMANDS:
            raise UsageError(f"expected a command, one of {', '.join(_COMMANDS)}"
                             + (f"; got {args[0]!r}" if args else ""))
        if args[0] == "predict":
            return predict_command(args[1:], extra)
        return encode_command(args[1:], extra)
    except UsageError as error:
        sys.stderr.write(f"attention-center: {error}\n{_USAGE}")
        return 2
    except (ModelLoadError, EncoderNotFoundError, NotADirectoryError) as error:
        sys.stderr.write(f"attention-center: {error}\n")
        return 2


def run_argv(argv: Sequence[str]) -> int:
    """Parses ``argv`` (``[prog, command, ...]``) and runs it; for tests and embedding."""
    FLAGS.unparse_flags()
    return main(parse_flags(argv))


def run() -> None:
    """Console-script entry point (``attention-center``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(main, flags_parser=parse_flags)
