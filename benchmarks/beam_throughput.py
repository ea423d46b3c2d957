"""Images/s of the Beam pipeline against the plain ``attention-center predict`` loop, same images.

    python benchmarks/beam_throughput.py --data_dir ../shared/data [--copies 10] [--encode]

The images are the 24 Kodak photos, ``--copies`` times each (distinct names, symlinks), so
the work is real decoding, resizing and inference of real photos. Measured in one run:

* **predict loop**: :func:`attention_center.inference.prediction.predict_images` over the
  files with the bundled model, in this process (what ``attention-center predict`` runs;
  interpreter threads: all CPUs);
* **Beam, N workers**: ``attention-center beam --input ... --output ...`` as a subprocess
  on Beam's FnApiRunner (the DirectRunner's engine), ``--direct_num_workers=N
  --direct_running_mode=multi_processing`` (one interpreter thread per worker), wall clock
  from start to exit (Python and Beam start-up, matching, writing the outputs included);
* with ``--encode``, also Beam at the largest N with ``--encode`` (cjxl, one thread each).

CPU seconds per image (user + system, of this process for the loop and of the child
processes for Beam) are what docs/beam.md turns into a cost per million images.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", "../shared/data", "Datasets folder (with kodak/).")
flags.DEFINE_integer("copies", 10, "Copies of each Kodak photo (24 x copies images).")
flags.DEFINE_list("workers", ["1", "2"], "Beam worker process counts to time.")
flags.DEFINE_bool("encode", False, "Also time the Beam job with --encode (cjxl).")
flags.DEFINE_string("model", "default", "Model spec.")


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_inputs(kodak: Path, copies: int, folder: Path) -> list[Path]:
    """``folder/cNN_kodimMM.png`` symlinks: ``copies`` x the 24 photos."""
    paths = []
    for c in range(copies):
        for source in sorted(kodak.glob("*.png")):
            link = folder / f"c{c:02d}_{source.name}"
            link.symlink_to(source.resolve())
            paths.append(link)
    return paths


def time_predict_loop(paths: list[Path], model: str) -> tuple[float, float]:
    """``(wall s, CPU s)`` of predict_images over ``paths`` (model load included)."""
    from attention_center.inference.prediction import predict_images
    from attention_center.inference.predictors import clear_cache, load_predictor

    clear_cache()
    start, cpu = time.perf_counter(), _cpu_self()
    predictor = load_predictor(model)
    failures = sum(not p.ok for p in predict_images(paths, predictor))
    wall, cpu = time.perf_counter() - start, _cpu_self() - cpu
    assert failures == 0, f"{failures} images failed"
    return wall, cpu


def time_beam(
    folder: Path, out: Path, workers: int, model: str, encode: bool
) -> tuple[float, float, int]:
    """``(wall s, CPU s of the children, rows written)`` of one ``attention-center beam`` run."""
    command = [
        sys.executable,
        "-m",
        "attention_center",
        "beam",
        "--input",
        f"{folder}/*.png",
        "--output",
        str(out),
        "--model",
        model,
        "--runner=FnApiRunner",
        f"--direct_num_workers={workers}",
    ]
    if workers > 1:
        command.append("--direct_running_mode=multi_processing")
    if encode:
        # The cjxl work of the recorded runs (docs/BENCHMARKS.md): the model's centre, no preview.
        command += ["--encode", "--center_strategy", "model", "--nocjxl_defaults"]
    start, cpu = time.perf_counter(), _cpu_children()
    run = subprocess.run(command, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _cpu_children() - cpu
    if run.returncode != 0:
        raise SystemExit(f"beam run failed ({run.returncode}):\n{run.stderr[-3000:]}")
    rows = sum(1 for line in (out / "centers.jsonl").read_text().splitlines() if line.strip())
    return wall, cpu, rows


def main(argv):
    del argv
    kodak = Path(FLAGS.data_dir) / "kodak"
    scratch = Path(tempfile.mkdtemp(prefix="beam-bench-"))
    try:
        folder = scratch / "in"
        folder.mkdir()
        paths = make_inputs(kodak, FLAGS.copies, folder)
        n = len(paths)
        results = []
        wall, cpu = time_predict_loop(paths, FLAGS.model)
        results.append(("predict loop (predict_images, 1 process, all CPU threads)", wall, cpu))
        for workers in (int(w) for w in FLAGS.workers):
            wall, cpu, rows = time_beam(
                folder, scratch / f"out{workers}", workers, FLAGS.model, False
            )
            assert rows == n, (rows, n)
            results.append((f"Beam FnApiRunner, {workers} worker process(es)", wall, cpu))
        if FLAGS.encode:
            workers = max(int(w) for w in FLAGS.workers)
            wall, cpu, rows = time_beam(folder, scratch / "out_encode", workers, FLAGS.model, True)
            assert rows == n, (rows, n)
            results.append((f"Beam FnApiRunner, {workers} workers, --encode", wall, cpu))
        base = n / results[0][1]
        print(
            f"{n} images ({FLAGS.copies} x the 24 Kodak photos, 768x512), model "
            f"{FLAGS.model!r}, {os.cpu_count()} CPUs\n"
        )
        print("| run | wall s | images/s | vs predict loop | CPU s / image |")
        print("|---|---|---|---|---|")
        for name, wall, cpu in results:
            print(
                f"| {name} | {wall:.1f} | {n / wall:.1f} | {n / wall / base:.2f}x | {cpu / n:.3f} |"
            )
        print(
            "\n"
            + json.dumps(
                {
                    "images": n,
                    "runs": [
                        {
                            "run": name,
                            "wall_s": round(wall, 2),
                            "images_per_s": round(n / wall, 2),
                            "cpu_s_per_image": round(cpu / n, 4),
                        }
                        for name, wall, cpu in results
                    ],
                }
            )
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    app.run(main)
