"""Exported TFLite models against Google's ``center.tflite``: size, latency, parity, error.

In one run, on the same machine and the same frame:

* every quantization of our model is exported as ``python -m export`` does it
  (:class:`export.pipeline.Exporter`: parity-checked against the Keras model on
  real photos, metadata embedded);
* file size of each, and of Google's model;
* how many ops ``ai_edge_litert`` runs outside XNNPACK
  (:func:`attention_center.inference.tflite.ops_outside_delegates`);
* median latency of one 480x640 inference (``invoke()`` only, after warm-up,
  ``--threads`` threads) on ``ai_edge_litert``'s interpreter (XNNPACK) and on
  TensorFlow's deprecated ``tf.lite.Interpreter``: Google's model falls back
  to slow kernels on the former, so both are reported, and ours are compared
  with Google's *best*;
* centre error on the held-out split of a ground-truth build, computed by
  :func:`attention_center.evaluation.evaluate.evaluate` (the same code and metrics as
  ``attention-center evaluate``): mean and median distance from the
  human centre over the image diagonal, in original pixels, and the fraction
  of images whose centre falls in the true 256x256 JPEG XL group; with the
  image-centre, dataset-mean and human-ceiling rows for scale.

Then the target (at most 1 MB, at most half of Google's best latency, mean
error at most Google's) is checked for each quantization and the verdict
printed, with our figure, Google's and the ratio.

    python benchmarks/export_benchmark.py --model runs/mine/model.keras --data /work/gt \\
        [--split test --modality eye] [--quantizations float32,float16,dynamic,int8] \\
        [--max_images N] [--runs 30] [--markdown export_benchmark.md]

``--data`` (default ``../gt`` beside the repo), ``--split``, ``--modality``,
``--max_images`` and the other scoring flags are ``attention-center evaluate``'s
(this script imports it); ``--model`` is the one ``.keras`` to export (default: the
bundled model).

The TensorFlow backend is required (set here).
"""

from __future__ import annotations

import os
import sys

_backend = os.environ.get("KERAS_BACKEND")
if _backend and _backend != "tensorflow":
    sys.exit(f"export_benchmark: needs KERAS_BACKEND=tensorflow, got {_backend}")
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dataclasses  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.anchor import GOOGLE_MODEL as DEFAULT_GOOGLE  # noqa: E402

#: The issue's target for the exported model.
TARGET_MAX_BYTES = 1_000_000
TARGET_LATENCY_RATIO = 0.5

# The held-out scoring is `attention-center evaluate`'s: its flags are reused as they are
# (--model: the one .keras to export, default the default preset's; --data: the ground-truth
# build; --split, --modality, --source, --max_images, --density_sigma, ...).
from attention_center.cli import evaluate as evaluate_command  # noqa: E402

flags.FLAGS.append_flag_values(evaluate_command.FLAGS)  # its --data, --split, ... here too
FLAGS = flags.FLAGS
#: The ground-truth build beside the repo (``../gt``), as ``../shared`` is.
FLAGS.set_default("data", str(REPO.parent / "gt"))
flags.DEFINE_string("google_model", str(DEFAULT_GOOGLE), "Google's center.tflite.")
flags.DEFINE_list("quantizations", ["float32", "float16", "dynamic", "int8"], "To export and time.")
flags.DEFINE_integer("runs", 30, "Timed inferences per model and runtime (median reported).")
flags.DEFINE_integer("warmup", 5, "Untimed inferences first.")
flags.DEFINE_integer("threads", 2, "Interpreter threads.")
flags.DEFINE_string("out_dir", None, "Keep the exported .tflite files here (default: temporary).")
flags.DEFINE_string("markdown", None, "Also write the command, the table and the verdict here.")
flags.DEFINE_integer("num_representative", 100, "int8 calibration images.")
flags.DEFINE_integer("num_parity", 50, "Parity images.")
flags.DEFINE_multi_string(
    "reference",
    [],
    "NAME=MODEL.tflite (or a preset name): another "
    "exported model timed and scored beside ours and Google's in the same "
    "run, e.g. 'large' (the 1.3.0 model). Repeatable.",
)


@dataclasses.dataclass
class Row:
    """One model of the table (``None``: not applicable)."""

    name: str
    size_bytes: Optional[int] = None
    litert_ms: Optional[float] = None
    tf_ms: Optional[float] = None
    parity_px: Optional[float] = None  # largest centre shift from the Keras model's
    parity_p95_px: Optional[float] = None  # its 95th percentile over the parity photos
    outside_xnnpack: Optional[int] = None  # ops ai-edge-litert runs outside XNNPACK
    summary: Optional[dict] = None  # attention_center.evaluation.evaluate MethodResult.summary()

    @property
    def best_ms(self) -> Optional[float]:
        times = [t for t in (self.litert_ms, self.tf_ms) if t is not None]
        return min(times) if times else None


def cpu_name() -> str:
    """The CPU model (Linux ``/proc/cpuinfo``), else the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def median_latency_ms(
    model, runtime: str, frame: np.ndarray, runs: int, warmup: int, threads: int
) -> float:
    """Median wall time of ``interpreter.invoke()`` in ms (input set once, as in a loop).

    Args:
      model: ``.tflite`` path.
      runtime: ``"litert"`` (ai-edge-litert, XNNPACK) or ``"tf"`` (tf.lite.Interpreter).
      frame: ``float32 [H, W, 3]`` RGB in [0, 1].
    """
    from attention_center.inference.tflite import google_input_index, make_interpreter

    interpreter = make_interpreter(model, runtime=runtime, num_threads=threads)
    interpreter.set_tensor(google_input_index(interpreter), frame[None].astype(np.float32))
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def tflite_predictor(path, runtime: str, threads: int, name: str):
    """A :class:`attention_center.inference.predictors.TFLitePredictor` on the chosen runtime.

    ``"tf"`` swaps in ``tf.lite.Interpreter`` for the same file (same tensor
    indices): Google's model runs ~8x faster there, same maths.
    """
    from attention_center.inference.predictors import TFLitePredictor

    predictor = TFLitePredictor(path, num_threads=threads, runtime=runtime)
    predictor.name = name
    return predictor


def _cell(value, digits: int, suffix: str = "") -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}{suffix}"


def markdown_table(rows: list[Row], google: Row) -> str:
    """The results, one row per model or baseline."""
    header = (
        "| model | size (MB) | latency ai-edge-litert (ms) | latency tf.lite (ms) | "
        "best latency / Google's best | ops outside XNNPACK | parity max (px) | "
        "mean error | median error | same JXL group | images |"
    )
    lines = [header, "|" + "---|" * 11]
    for row in rows:
        s = row.summary or {}
        ratio = row.best_ms / google.best_ms if row.best_ms is not None and google.best_ms else None
        lines.append(
            "| "
            + " | ".join(
                [
                    row.name,
                    _cell(row.size_bytes / 1e6 if row.size_bytes else None, 2),
                    _cell(row.litert_ms, 1),
                    _cell(row.tf_ms, 1),
                    _cell(ratio, 2),
                    "-" if row.outside_xnnpack is None else str(row.outside_xnnpack),
                    _cell(row.parity_px, 2),
                    _cell(s.get("mean_error"), 4),
                    _cell(s.get("median_error"), 4),
                    _cell(s.get("same_group"), 3),
                    str(s.get("num_images", "-")),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def verdict_lines(ours: list[Row], google: Row) -> list[str]:
    """Per quantization: size, latency and error against the target, with figures and ratios."""
    lines = []
    g_error = (google.summary or {}).get("mean_error")
    for row in ours:
        error = (row.summary or {}).get("mean_error")
        size_ok = row.size_bytes <= TARGET_MAX_BYTES
        speed_ok = row.best_ms <= TARGET_LATENCY_RATIO * google.best_ms
        error_ok = error is not None and g_error is not None and error <= g_error
        lines.append(
            f"- {row.name}: size {row.size_bytes / 1e6:.2f} MB vs Google's "
            f"{google.size_bytes / 1e6:.2f} MB (ratio {row.size_bytes / google.size_bytes:.2f}; "
            f"target <= 1 MB: {'met' if size_ok else 'NOT met'}); best latency "
            f"{row.best_ms:.1f} ms vs Google's best {google.best_ms:.1f} ms (ratio "
            f"{row.best_ms / google.best_ms:.2f}; target <= 0.5: "
            f"{'met' if speed_ok else 'NOT met'}); mean error {_cell(error, 4)} vs Google's "
            f"{_cell(g_error, 4)} (ratio {_cell(error / g_error if error and g_error else None, 2)}"
            f"; target <= 1: {'met' if error_ok else 'NOT met'}) -> "
            f"{'TARGET MET' if size_ok and speed_ok and error_ok else 'target not met'}"
        )
    return lines


#: The frame's diagonal in pixels (480x640): parity shifts are judged as a share of it.
FRAME_DIAGONAL_PX = 800.0


def parity_lines(ours: list[Row], float_row: Row) -> list[str]:
    """Per quantization: the int8 (or other) file's mean error over the float Keras model's
    (target within 2%) and its largest centre shift over the frame diagonal (target <= 1%)."""
    lines = []
    float_error = (float_row.summary or {}).get("mean_error")
    for row in ours:
        error = (row.summary or {}).get("mean_error")
        ratio = error / float_error if error and float_error else None
        shift = row.parity_px / FRAME_DIAGONAL_PX if row.parity_px is not None else None
        error_ok = ratio is not None and ratio <= 1.02
        shift_ok = shift is not None and shift <= 0.01
        lines.append(
            f"- {row.name}: mean error {_cell(error, 4)} vs the float Keras model's "
            f"{_cell(float_error, 4)} (ratio {_cell(ratio, 3)}; target <= 1.02: "
            f"{'met' if error_ok else 'NOT met'}); largest centre shift "
            f"{_cell(row.parity_px, 2)} px = {_cell(None if shift is None else 100 * shift, 2)}% "
            f"of the 480x640 frame's diagonal (target <= 1%: {'met' if shift_ok else 'NOT met'}"
            f"; 95th percentile {_cell(row.parity_p95_px, 2)} px)"
        )
    return lines


def main(argv):
    from export.errors import ExportError

    try:
        run_benchmark(argv)
    except ExportError as error:  # no model, bad model, parity failure: one clear line
        sys.exit(f"export_benchmark: {error}")


def run_benchmark(argv):
    del argv
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's SavedModel chatter
    from attention_center.core.atomic import atomic_write_text
    from attention_center.core.ground_truth_index import resolve_image_path, select_records
    from attention_center.core.images import load_image, resize_with_pad
    from attention_center.evaluation.evaluate import evaluate
    from attention_center.inference.predictors import KerasPredictor
    from attention_center.inference.tflite import make_interpreter, ops_outside_delegates
    from attention_center.presets import resolve_model
    from export import converter, images
    from export.pipeline import Exporter

    google_path = Path(FLAGS.google_model)
    if not google_path.is_file():
        sys.exit(f"export_benchmark: Google's model not found at {google_path}")
    if len(FLAGS.model) > 1:
        sys.exit("export_benchmark: one --model at a time")
    if not (Path(FLAGS.data) / "index.jsonl").is_file():
        sys.exit(
            f"export_benchmark: {FLAGS.data}: not a ground-truth build (no index.jsonl); "
            "pass --data"
        )
    model_path = resolve_model(FLAGS.model[0] if FLAGS.model else None, fmt="keras")
    converter.load_center_model(model_path)  # fails early, with the exporter's message
    out_dir = Path(FLAGS.out_dir or tempfile.mkdtemp(prefix="export_benchmark_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    records = select_records(
        FLAGS.data,
        FLAGS.split,
        modality=FLAGS.modality,
        sources=FLAGS.source,
        include_fallbacks=FLAGS.include_fallbacks,
        max_images=FLAGS.max_images,
    )
    if not records:
        sys.exit(
            f"export_benchmark: no {FLAGS.modality} records in the {FLAGS.split} split "
            f"of {FLAGS.data}"
        )
    timing_frame, _ = resize_with_pad(load_image(resolve_image_path(records[0])))

    def time_both(path, row: Row) -> Row:
        row.outside_xnnpack = len(ops_outside_delegates(make_interpreter(path, "litert")))
        row.litert_ms = median_latency_ms(
            path, "litert", timing_frame, FLAGS.runs, FLAGS.warmup, FLAGS.threads
        )
        row.tf_ms = median_latency_ms(
            path, "tf", timing_frame, FLAGS.runs, FLAGS.warmup, FLAGS.threads
        )
        print(
            f"{row.name}: {row.size_bytes / 1e6:.2f} MB, litert {row.litert_ms:.1f} ms, "
            f"tf.lite {row.tf_ms:.1f} ms, {row.outside_xnnpack} ops outside XNNPACK",
            flush=True,
        )
        return row

    google = time_both(
        google_path, Row("Google center.tflite", size_bytes=google_path.stat().st_size)
    )
    ours: list[Row] = []
    predictors = [tflite_predictor(google_path, "tf", FLAGS.threads, google.name)]
    references: list[Row] = []
    for item in FLAGS.reference:
        name, sep, spec = item.partition("=")
        path = resolve_model(spec if sep else name, fmt="tflite")
        row = time_both(
            path, Row(name if sep else f"{name} ({path.name})", size_bytes=path.stat().st_size)
        )
        references.append(row)
        predictors.append(tflite_predictor(path, "litert", FLAGS.threads, row.name))
    with Exporter(
        model_path,
        representative_paths=images.default_representative_paths(FLAGS.num_representative),
        parity_paths=images.default_parity_paths(FLAGS.num_parity),
        progress=False,
    ) as exporter:
        keras_predictor = KerasPredictor(exporter.model)
        keras_predictor.name = "ours, Keras (float32)"
        predictors.append(keras_predictor)
        for quantization in FLAGS.quantizations:
            start = time.perf_counter()
            result = exporter.export(quantization, out_dir / f"center_{quantization}.tflite")
            print(result.parity.line(), f"(export {time.perf_counter() - start:.0f} s)", flush=True)
            row = time_both(
                result.path,
                Row(
                    f"ours, {quantization}",
                    size_bytes=result.size_bytes,
                    parity_px=result.parity.max_px,
                    parity_p95_px=result.parity.p95_px,
                ),
            )
            ours.append(row)
            predictors.append(tflite_predictor(result.path, "litert", FLAGS.threads, row.name))
        evaluation = evaluate(
            FLAGS.data,
            predictors,
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
            progress=False,
        )
    summaries = {m.name: m.summary() for m in evaluation.methods}
    google.summary = summaries.get(google.name)
    for row in ours + references:
        row.summary = summaries.get(row.name)
    keras_row = Row(keras_predictor.name, summary=summaries.get(keras_predictor.name))
    baselines = [
        Row(name, summary=summary)
        for name, summary in summaries.items()
        if name not in {google.name, keras_row.name} | {r.name for r in ours + references}
    ]
    rows = [google] + references + [keras_row] + ours + baselines
    table = markdown_table(rows, google)
    verdict = verdict_lines(ours, google)
    parity = parity_lines(ours, keras_row)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    header = (
        f"Model `{model_path}`; held-out: {FLAGS.split} split of `{FLAGS.data}`, "
        f"{FLAGS.modality}, {evaluation.settings['num_images']} images; latency: median of "
        f"{FLAGS.runs} `invoke()` after {FLAGS.warmup} warm-up, {FLAGS.threads} threads, "
        f"{cpu_name()}, {os.cpu_count()} CPUs; "
        f"Google's best latency {google.best_ms:.1f} ms. Errors: distance to the human "
        "centre over the image diagonal (attention_center.evaluation.evaluate)."
    )
    print()
    print(header)
    print(table)
    print("\nTarget (<= 1 MB, <= half of Google's best latency, mean error <= Google's):")
    print("\n".join(verdict))
    print("\nQuantization parity (int8 vs float, judged by what matters):")
    print("\n".join(parity))
    if evaluation.failures:
        print(f"\n{len(evaluation.failures)} unreadable images left out: {evaluation.failures}")
    if FLAGS.markdown:
        text = (
            f"```sh\n{command}\n```\n\n{header}\n\n{table}\n\n"
            "Target (<= 1 MB, <= half of Google's best latency, mean error <= Google's):\n\n"
            + "\n".join(verdict)
            + "\n\nQuantization parity (int8 vs float):\n\n"
            + "\n".join(parity)
            + "\n"
        )
        atomic_write_text(FLAGS.markdown, text)
        print(f"\nwrote {FLAGS.markdown}")
    print(f"exported files in {out_dir}")


if __name__ == "__main__":
    app.run(main)
