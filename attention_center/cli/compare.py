"""``attention-center compare IMAGE``: one image at equal byte budgets, scanline / Google / ours.

Usage::

  attention-center compare IMAGE [--out DIR] [--budgets 5,20,40] [--model M]
      [--google_model PATH] [--gt_dir GT] [--center_strategy chosen|model] [-- cjxl flags]

Writes ``DIR/index.html``, a self-contained page (every image inline): for each budget (a
share of each file) the partial ``.jxl`` file itself, with the PNG djxl decodes from the
same bytes as the fallback for browsers without JPEG XL, in scanline order, at Google's
predicted centre and at ours (as ``attention-center encode`` would encode it), the
looked-at region's quality against bytes beside it, and the human first fixations on a
toggle when ``--gt_dir`` has the image. Also ``DIR/compare.json`` (the numbers).
Google's model is read in place (default: ``../shared/anchors/google_center.tflite``
beside the repository, or under ``$ATTENTION_CENTER_SHARED``); without it its column is
left out, with a note on the page. An animated image is compared by its first frame (a
note says so). Exit 0 when the page was written, 1 when the image could not be read or
encoded or the page not written, 2 for a usage error, found before any work (among them a
``DIR`` that is a file or cannot be written, and a ``DIR/index.html`` or
``DIR/compare.json`` that is the input image: the input is never overwritten).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from absl import flags

from attention_center.core.command_flags import (
    EXIT_FAILURES,
    EXIT_OK,
    UsageError,
    define_model_flags,
)

__all__ = ["FLAGS", "USAGE", "default_google_model", "main", "run"]

USAGE = __doc__
FLAGS = flags.FlagValues()
define_model_flags(FLAGS)
flags.DEFINE_string(
    "out",
    None,
    "Folder for index.html and compare.json (default: <image stem>_compare in the current folder).",
    flag_values=FLAGS,
)
flags.DEFINE_list("budgets", ["5", "20", "40"], "Budgets, percent of each file.", flag_values=FLAGS)
flags.DEFINE_string(
    "google_model",
    None,
    "Google's center.tflite, read in place (default: "
    "../shared/anchors/google_center.tflite if it exists; 'none' to leave "
    "its column out).",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "gt_dir",
    None,
    "A ground-truth build (index.jsonl) to take the human "
    "first fixations from (default: ../gt if it exists).",
    flag_values=FLAGS,
)
flags.DEFINE_enum(
    "center_strategy",
    "chosen",
    ["model", "chosen"],
    "Our column's centre, as encode --center_strategy.",
    flag_values=FLAGS,
)
flags.DEFINE_string("encoder", "cjxl", "cjxl binary, a path or a name on PATH.", flag_values=FLAGS)
flags.DEFINE_bool(
    "cjxl_defaults",
    True,
    "Add encode's default cjxl flags "
    "(attention_center.jxl.defaults) before the flags after --, as encode does.",
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "cell_px",
    300,
    "Width of each picture on the page (CSS pixels).",
    lower_bound=64,
    flag_values=FLAGS,
)


def default_google_model() -> Optional[Path]:
    """Google's model where the project keeps it (never inside the repository), if present."""
    candidates = []
    if os.environ.get("ATTENTION_CENTER_SHARED"):
        candidates.append(Path(os.environ["ATTENTION_CENTER_SHARED"]) / "anchors")
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "anchors")
    for folder in candidates:
        path = folder / "google_center.tflite"
        if path.is_file():
            return path
    return None


def _budgets() -> list[float]:
    try:
        values = [float(v) / 100.0 for v in FLAGS.budgets if str(v).strip()]
    except ValueError:
        raise UsageError(f"--budgets must be percentages, got {FLAGS.budgets}") from None
    if not values or any(not 0 < v < 1 for v in values):
        raise UsageError(f"--budgets must be in (0, 100), got {FLAGS.budgets}")
    return sorted(values)


#: The files compare writes into ``--out``.
OUTPUT_NAMES = ("index.html", "compare.json")


def _check_out(out: Path, source: Path) -> None:
    """``--out``'s usage errors, before any work and without creating anything: a file or an
    unwritable folder where the folder must be (or must be made), or an output that would
    overwrite the input image."""
    from attention_center.core.files import OutputFolderError, check_output_folder, file_identity

    for name in OUTPUT_NAMES:
        target = out / name
        if file_identity(target) == file_identity(source):  # links to the input included
            raise UsageError(
                f"--out {out}: {target} is the input image; refused (it would be overwritten)"
            )
    if os.path.lexists(out):
        try:
            check_output_folder(out, create=False)
        except OutputFolderError as error:
            raise UsageError(f"--out {error}") from error
        return
    folder = next(p for p in Path(os.path.abspath(out)).parents if os.path.lexists(p))
    try:  # the nearest folder that exists must let us make the rest
        check_output_folder(folder, create=False)
    except OutputFolderError as error:
        raise UsageError(f"--out {out}: its folder {error}") from error


def main(argv: Sequence[str], encoder_flags: Sequence[str] = ()) -> int:
    """``argv``: ``[prog, IMAGE]`` after flag parsing; ``encoder_flags``: what followed ``--``."""
    from attention_center.core.files import not_a_file_reason
    from attention_center.core.images import ignore_corrupt_exif_warnings
    from attention_center.inference.prediction import predict_images
    from attention_center.inference.predictors import ModelLoadError, load_predictor
    from attention_center.jxl.compare_html import write_page
    from attention_center.jxl.compare_inputs import human_data, strategy_columns
    from attention_center.jxl.compare_page import build_comparison
    from attention_center.jxl.defaults import with_default_flags
    from attention_center.jxl.encoder import (
        EncoderError,
        EncoderFlagsError,
        EncoderNotFoundError,
        check_encoder_flags,
        find_encoder,
    )
    from attention_center.jxl.partial import DecoderNotFoundError

    if len(argv) != 2:
        raise UsageError("compare takes one IMAGE")
    source = Path(argv[1])
    if not source.is_file():
        raise UsageError(f"{source}: {not_a_file_reason(source) or 'not a regular file'}")
    ignore_corrupt_exif_warnings()
    budgets = _budgets()
    if FLAGS.cjxl_defaults:
        encoder_flags = with_default_flags(encoder_flags)
    out = Path(FLAGS.out) if FLAGS.out else Path(f"{source.stem}_compare")
    _check_out(out, source)
    google_path = None
    if (FLAGS.google_model or "").lower() != "none":
        google_path = Path(FLAGS.google_model) if FLAGS.google_model else default_google_model()
        if FLAGS.google_model and not google_path.is_file():
            raise UsageError(f"--google_model {google_path}: no such file")
    gt_dir = FLAGS.gt_dir or ("../gt" if Path("../gt/index.jsonl").is_file() else None)
    if FLAGS.gt_dir and not (Path(FLAGS.gt_dir) / "index.jsonl").is_file():
        raise UsageError(f"--gt_dir {FLAGS.gt_dir}: no index.jsonl")
    try:  # a bad extra flag is a usage error before any work, as in encode
        check_encoder_flags(find_encoder(FLAGS.encoder), encoder_flags)
    except (EncoderNotFoundError, EncoderFlagsError) as error:
        raise UsageError(str(error)) from error
    try:
        ours_model = load_predictor(FLAGS.model, num_threads=FLAGS.model_threads)
        google_model = load_predictor(str(google_path)) if google_path else None
    except ModelLoadError as error:
        raise UsageError(str(error)) from error

    [ours] = list(predict_images([source], ours_model, keep_weight_maps=True))
    if not ours.ok:
        print(f"{source}: {ours.error}", file=sys.stderr)
        return EXIT_FAILURES
    google = next(iter(predict_images([source], google_model))) if google_model else None
    columns, notes = strategy_columns(source, ours, google, FLAGS.center_strategy)
    notes = [*ours.notes, *notes]  # e.g. an animated image: its first frame is compared
    if google_model is None:
        notes.append(
            "Google's column left out: its model (google_center.tflite) was not "
            "found; pass --google_model PATH."
        )
    human = human_data(source, gt_dir)
    if human is None:
        notes.append(
            "No human fixations for this image"
            + (f" in {gt_dir}." if gt_dir else " (no --gt_dir).")
            + " The looked-at region is around our predicted centre."
        )
    region_center = human["center"] if human else tuple(ours.center)
    label = (
        f"around the human centre, {human['source']}" if human else "around our predicted centre"
    )
    try:
        comparison = build_comparison(
            source,
            columns,
            budgets,
            region_center=region_center,
            region_label=label,
            fixations=human["points"] if human else None,
            human_center=human["center"] if human else None,
            extra_flags=encoder_flags,
            encoder=FLAGS.encoder,
            notes=notes,
        )
    except (EncoderNotFoundError, DecoderNotFoundError) as error:
        raise UsageError(str(error)) from error
    except (EncoderError, OSError, ValueError) as error:
        print(f"{source}: {error}", file=sys.stderr)
        return EXIT_FAILURES
    try:
        page = write_page(comparison, out, cell_px=FLAGS.cell_px)
    except OSError as error:  # the folder changed since it was checked
        reason = (error.strerror or str(error)).lower()
        print(f"{out}: cannot write the page: {reason}", file=sys.stderr)
        return EXIT_FAILURES
    sizes = ", ".join(f"{c.key} {c.file_bytes / 1e3:.1f} kB" for c in comparison.columns)
    print(
        f"wrote {page} ({page.stat().st_size / 1e6:.1f} MB; {sizes}; budgets "
        f"{', '.join(f'{b:.0%}' for b in budgets)})"
    )
    for note in notes:
        print(f"note: {note}")
    return EXIT_OK


def run(argv: Sequence[str] | None = None) -> None:
    """Parses ``[prog, IMAGE, flags..., "--", cjxl flags...]``; exits with :func:`main`'s status."""
    from attention_center.core.command_flags import run_with_flags, split_encoder_flags

    ours, encoder_flags = split_encoder_flags(sys.argv if argv is None else argv)
    run_with_flags(FLAGS, lambda rest: main(rest, encoder_flags), USAGE, ours)
