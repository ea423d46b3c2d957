"""Exported TFLite models against Google's ``center.tflite``: size, latency, parity, error.

For each quantization the model is exported as ``python -m export`` does
(parity-checked), then, in the same run and on the same frames:

* file size;
* median latency of one 480x640 inference after warm-up, 2 threads, on
  ``ai_edge_litert``'s interpreter and on TensorFlow's ``tf.lite.Interpreter``
  (Google's model uses slow kernels on the former), and the ratio to Google's
  best latency;
* the largest TFLite-vs-Keras centre distance on the parity photos;
* the centre error on the held-out split of the ground truth: distance from
  the human centre / the image diagonal, in original pixels, one record per
  test image (eye tracking preferred), frames made by
  ``attention_center.image.resize_with_pad`` and centres mapped back with
  its ``FrameTransform``.

    python benchmarks/export_benchmark.py --model path/model.keras --gt /work/gt \\
        [--quantizations float32,float16,dynamic,int8] [--runs 20] [--markdown out.md]

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

import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GOOGLE = Path(os.environ.get("ATTENTION_CENTER_SHARED", REPO.parent / "shared")) \
    / "anchors" / "google_center.tflite"

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The .keras model (default: the bundled model).")
flags.DEFINE_string("google_model", str(DEFAULT_GOOGLE), "Google's center.tflite.")
flags.DEFINE_list("quantizations", ["float32", "float16", "dynamic", "int8"], "To export and time.")
flags.DEFINE_string("gt", "/work/gt", "Ground-truth build folder (index.jsonl with a test split).")
flags.DEFINE_integer("max_test_images", 0, "Use only this many test images (0: all).")
flags.DEFINE_integer("runs", 20, "Timed inferences per model and runtime (median reported).")
flags.DEFINE_integer("warmup", 3, "Untimed inferences first.")
flags.DEFINE_integer("threads", 2, "Interpreter threads.")
flags.DEFINE_string("out_dir", None, "Keep the exported .tflite files here (default: temporary).")
flags.DEFINE_string("markdown", None, "Also write the results table to this file.")
flags.DEFINE_integer("num_representative", 100, "int8 calibration images.")
flags.DEFINE_integer("num_parity", 50, "Parity images.")


def median_latency_ms(model, runtime: str, frame: np.ndarray, runs: int, warmup: int,
                      threads: int) -> float:
    """Median wall time of ``interpreter.invoke()`` in ms (input set once, as in a loop)."""
    from export.runtime import google_input_index, make_interpreter

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


def test_records(gt_dir, limit: int = 0) -> list[dict]:
    """One test-split record per image (eye tracking preferred over mouse)."""
    from ground_truth.portable import read_index

    by_image: dict[str, dict] = {}
    for row in read_index(gt_dir, split="test"):
        current = by_image.get(row["image_id"])
        if current is None or (current.get("modality") != "eye" and row.get("modality") == "eye"):
            by_image[row["image_id"]] = row
    records = [by_image[key] for key in sorted(by_image)]
    return records[:limit] if limit else records


def test_frames(records, frame_hw=(480, 640)):
    """``(frames [N, H, W, 3], transforms, human centres [N, 2] original px, diagonals [N])``."""
    from attention_center.image import load_image, resize_with_pad
    from ground_truth.portable import resolve_image_path

    frames, transforms, centers, diagonals = [], [], [], []
    for row in records:
        frame, transform = resize_with_pad(load_image(resolve_image_path(row)), frame_hw)
        frames.append(frame)
        transforms.append(transform)
        centers.append(row["center"])
        h, w = row["original_hw"]
        diagonals.append(math.hypot(h, w))
    return np.stack(frames), transforms, np.asarray(centers, np.float64), np.asarray(diagonals)


def center_errors(frame_centers, transforms, human, diagonals) -> np.ndarray:
    """Normalized errors: |predicted - human| / diagonal, in original pixels."""
    predicted = np.stack([t.points_to_original(c) for t, c in zip(transforms, frame_centers)])
    return np.linalg.norm(predicted - human, axis=-1) / diagonals


def tflite_errors(model, runtime, data) -> np.ndarray:
    from export.runtime import make_interpreter, predict_centers

    frames, transforms, human, diagonals = data
    centers = predict_centers(make_interpreter(model, runtime=runtime), frames)
    return center_errors(centers, transforms, human, diagonals)


def markdown_table(rows, google_best: float) -> str:
    lines = ["| model | size (MB) | latency ai-edge-litert (ms) | latency tf.lite (ms) | "
             "best / Google's best | parity max (px) | held-out error mean | median |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        best = min(row["litert_ms"], row["tf_ms"]) if row["litert_ms"] else None
        parity = f"{row['parity_px']:.2f}" if row.get("parity_px") is not None else "-"
        lines.append(
            f"| {row['name']} | {row['size_mb']:.2f} | "
            f"{row['litert_ms']:.1f} | {row['tf_ms']:.1f} | "
            f"{best / google_best:.2f} | {parity} | "
            f"{row['error_mean']:.4f} | {row['error_median']:.4f} |"
            if best else
            f"| {row['name']} | - | - | - | - | - | {row['error_mean']:.4f} | "
            f"{row['error_median']:.4f} |")
    return "\n".join(lines)


def main(argv):
    del argv
    from export import converter, images
    from export.parity import keras_centers
    from export.pipeline import Exporter

    google = Path(FLAGS.google_model)
    if not google.is_file():
        sys.exit(f"export_benchmark: Google's model not found at {google}")
    out_dir = Path(FLAGS.out_dir or tempfile.mkdtemp(prefix="export_benchmark_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    records = test_records(FLAGS.gt, FLAGS.max_test_images)
    print(f"held-out split: {len(records)} test images from {FLAGS.gt}")
    data = test_frames(records)
    timing_frame = data[0][0]

    rows = []
    google_row = {"name": "Google center.tflite", "size_mb": google.stat().st_size / 1e6,
                  "litert_ms": median_latency_ms(google, "litert", timing_frame, FLAGS.runs,
                                                 FLAGS.warmup, FLAGS.threads),
                  "tf_ms": median_latency_ms(google, "tf", timing_frame, FLAGS.runs,
                                             FLAGS.warmup, FLAGS.threads),
                  "parity_px": None}
    # Google's model is timed on both runtimes; its centres are computed on tf.lite (same
    # kernels' maths, 8x faster there).
    errors = tflite_errors(google, "tf", data)
    google_row.update(error_mean=float(errors.mean()), error_median=float(np.median(errors)))
    rows.append(google_row)
    print(google_row)

    model_path = FLAGS.model or converter.BUNDLED_MODEL
    with Exporter(model_path, representative_paths=images.default_representative_paths(
            FLAGS.num_representative), parity_paths=images.default_parity_paths(FLAGS.num_parity),
            progress=False) as exporter:
        keras_errors = center_errors(keras_centers(exporter.model, data[0]), *data[1:])
        rows.append({"name": "ours, Keras (float32)", "size_mb": None, "litert_ms": None,
                     "tf_ms": None, "error_mean": float(keras_errors.mean()),
                     "error_median": float(np.median(keras_errors))})
        for quantization in FLAGS.quantizations:
            start = time.perf_counter()
            result = exporter.export(quantization, out_dir / f"center_{quantization}.tflite")
            seconds = time.perf_counter() - start
            print(result.parity.line(), f"(export {seconds:.0f} s)")
            errors = tflite_errors(result.path, "litert", data)
            row = {"name": f"ours, {quantization}", "size_mb": result.size_bytes / 1e6,
                   "litert_ms": median_latency_ms(result.path, "litert", timing_frame, FLAGS.runs,
                                                  FLAGS.warmup, FLAGS.threads),
                   "tf_ms": median_latency_ms(result.path, "tf", timing_frame, FLAGS.runs,
                                              FLAGS.warmup, FLAGS.threads),
                   "parity_px": result.parity.max_px,
                   "error_mean": float(errors.mean()), "error_median": float(np.median(errors))}
            rows.append(row)
            print(row)
    google_best = min(google_row["litert_ms"], google_row["tf_ms"])
    table = markdown_table(rows, google_best)
    header = (f"Model {model_path}; {len(records)} held-out images; latency: median of "
              f"{FLAGS.runs} runs after {FLAGS.warmup} warm-up, {FLAGS.threads} threads, "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
              f"Google's best latency {google_best:.1f} ms.")
    print()
    print(header)
    print(table)
    if FLAGS.markdown:
        converter.atomic_write_bytes(FLAGS.markdown, (header + "\n\n" + table + "\n").encode())
    print(f"\nexported files in {out_dir}")


if __name__ == "__main__":
    app.run(main)
