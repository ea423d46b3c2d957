"""``attention-center predict PATHS...``: attention centres of images, as JSON or CSV.

Usage::

  attention-center predict PATHS... [--model M] [--format json|csv] [--overlay DIR]

Prints one record per image (``path``, ``center`` (x, y) in original (displayed) pixels,
0-based pixel centres, ``original_hw`` (h, w), ``error``); folders are walked. With
``--overlay DIR``, also writes ``DIR/<name>.overlay.png``: the image with its centre marked
and the model's weighting map as a heatmap (never read back as inputs: ``predict DIR
--overlay DIR/ov`` run twice sees the same images). Each bad file is reported on stderr
and the others finish; exit 1 when any failed, 2 for a usage error.

Paths are printed as the file system gives them, except that a name that is not valid
UTF-8 shows each byte that is not as ``\\xNN`` (the name ``bad`` + byte 0xFF + ``.jpg``
prints as ``bad\\xff.jpg``): the output stays valid UTF-8, and JSON any strict parser
reads (a lone surrogate, ``"\\udcff"``, is not). Such a printed path is not the file's
real name: rename those files to use the paths as they are.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from absl import flags

from attention_center.core.command_flags import (
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    define_model_flags,
    max_pixels_flag,
)
from attention_center.core.files import resolved

__all__ = ["FLAGS", "USAGE", "format_rows", "main"]

USAGE = __doc__
FLAGS = flags.FlagValues()
define_model_flags(FLAGS)
flags.DEFINE_enum("format", "json", ["json", "csv"], "Output format on stdout.", flag_values=FLAGS)
flags.DEFINE_string(
    "overlay",
    None,
    "Write <DIR>/<name>.overlay.png: the image with its "
    "centre marked and the model's weighting map as a heatmap.",
    flag_values=FLAGS,
)
flags.DEFINE_bool("progress", True, "Show a progress bar on stderr.", flag_values=FLAGS)


#: The ending of the overlays predict writes (``<image name>.overlay.png``).
OVERLAY_SUFFIX = ".overlay.png"


def _expand_paths(
    paths: Sequence[str], errors: list, overlay_dir: Path | None = None
) -> list[tuple[Path, Path]]:
    """Command-line paths -> (image path, root it is named relative to); folders walked.

    Folders that cannot be listed are appended to ``errors``; a missing, looping or bad file
    is reported per file by the loader. What we write is never read back as an input: a
    walk leaves out ``overlay_dir`` when it lies inside the walked folder, and the
    overlays (``*.overlay.png``) under ``overlay_dir`` when the walk covers it (``predict
    DIR --overlay DIR``), so a second run sees the same inputs as the first.
    """
    from attention_center.core.files import find_images, is_inside

    items = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            inside = overlay_dir is not None and is_inside(overlay_dir, path)
            exclude = [overlay_dir] if inside and not is_inside(path, overlay_dir) else []
            images, _ = find_images(path, exclude=exclude, errors=errors)
            items += [
                (image, path)
                for image in images
                if not (
                    overlay_dir is not None
                    and image.name.endswith(OVERLAY_SUFFIX)
                    and is_inside(image, overlay_dir)
                )
            ]
        else:
            items.append((path, path.parent))
    return items


def _check_overlay_dir(overlay: str) -> Path:
    """``--overlay``: a folder we can write (created if missing, probed), or a usage error."""
    from attention_center.core.command_flags import output_folder_flag

    return output_folder_flag("overlay", overlay)


def _overlay_paths(items: list[tuple[Path, Path]], overlay_dir: Path) -> list[Path]:
    """``overlay_dir/<path relative to its root>.overlay.png``, made unique."""
    seen: set[Path] = set()
    out = []
    for path, root in items:
        relative = path.relative_to(root)
        candidate = overlay_dir / relative.parent / f"{relative.name}{OVERLAY_SUFFIX}"
        n = 2
        while candidate in seen:
            candidate = overlay_dir / relative.parent / f"{relative.name}.{n}{OVERLAY_SUFFIX}"
            n += 1
        seen.add(candidate)
        out.append(candidate)
    return out


def printable_path(path) -> str:
    """A path as text every JSON parser and UTF-8 terminal takes: as it is when its name is
    valid UTF-8; otherwise each byte that is not is written ``\\xNN`` (Python keeps such a
    byte as a lone surrogate, ``"\\udcff"``, which is not valid UTF-8 nor strict JSON)."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def format_rows(rows: list[dict], fmt: str) -> str:
    """predict records -> JSON (a list) or CSV (``path,x,y,height,width,error``).

    Paths go through :func:`printable_path`."""
    rows = [{**row, "path": printable_path(row["path"])} for row in rows]
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


def main(argv: Sequence[str]) -> int:
    """``argv``: ``[prog, PATHS...]`` after flag parsing."""
    from tqdm import tqdm

    from attention_center.core.images import ignore_corrupt_exif_warnings
    from attention_center.inference.prediction import predict_images
    from attention_center.inference.predictors import ModelLoadError, load_predictor

    paths = list(argv[1:])
    if not paths:
        raise UsageError("predict needs image files or folders")
    ignore_corrupt_exif_warnings()
    try:
        predictor = load_predictor(
            FLAGS.model, num_threads=FLAGS.model_threads, batch_size=FLAGS.batch_size
        )
    except ModelLoadError as error:
        raise UsageError(str(error)) from error
    overlay_dir = _check_overlay_dir(FLAGS.overlay) if FLAGS.overlay else None
    folder_errors: list = []
    items = _expand_paths(paths, folder_errors, overlay_dir)
    overlays = _overlay_paths(items, overlay_dir) if overlay_dir else [None] * len(items)
    inputs = {resolved(path) for path, _ in items}
    rows, failures = [], len(folder_errors)
    for message in folder_errors:
        sys.stderr.write(f"attention-center: {message}\n")
    stream = predict_images(
        [path for path, _ in items],
        predictor,
        batch_size=FLAGS.batch_size,
        keep_images=overlay_dir is not None,
        keep_weight_maps=overlay_dir is not None,
        max_pixels=max_pixels_flag(FLAGS),
    )
    bar = tqdm(
        total=len(items), unit="img", desc="predict", disable=not FLAGS.progress, dynamic_ncols=True
    )
    try:
        failures += _predict_rows(stream, overlays, inputs, rows, bar)
    except KeyboardInterrupt:
        bar.close()
        sys.stdout.write(format_rows(rows, FLAGS.format))
        sys.stderr.write(
            f"attention-center: interrupted after {len(rows)} of {len(items)} "
            f"images ({failures} failed); the rows above are those done\n"
        )
        return EXIT_INTERRUPTED
    bar.close()
    sys.stdout.write(format_rows(rows, FLAGS.format))
    sys.stdout.flush()
    if failures:
        sys.stderr.write(
            f"attention-center: {failures} of {len(rows) + len(folder_errors)} inputs failed\n"
        )
    return EXIT_FAILURES if failures else EXIT_OK


def _predict_rows(stream, overlays, inputs, rows: list, bar) -> int:
    """Consumes the predictions into ``rows`` (writing overlays); returns the failures."""
    from attention_center.inference.overlay import (
        overlay_image,
        weight_map_on_image,
        write_overlay,
    )

    failures = 0
    for prediction, overlay_path in zip(stream, overlays):
        error = prediction.error
        if error is None and overlay_path is not None:
            if resolved(overlay_path) in inputs:
                error = f"overlay {overlay_path} would overwrite an input; refused"
            else:
                heat = (
                    None
                    if prediction.weight_map is None
                    else weight_map_on_image(prediction.weight_map, prediction.transform)
                )
                try:
                    write_overlay(
                        overlay_path, overlay_image(prediction.image, prediction.center, heat)
                    )
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
        for note in prediction.notes:
            bar.write(f"attention-center: {prediction.source}: note: {note}", file=sys.stderr)
        rows.append(row)
        bar.update(1)
    return failures


def run(argv: Sequence[str] | None = None) -> None:
    """Parses ``argv`` (``[prog, flags and paths...]``) and exits with :func:`main`'s status."""
    import sys

    from attention_center.core.command_flags import EXIT_USAGE, run_with_flags

    argv = list(sys.argv if argv is None else argv)
    if "--" in argv:
        print(f"{argv[0]}: error: flags after -- go to cjxl: only for encode", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    run_with_flags(FLAGS, main, USAGE, argv)
