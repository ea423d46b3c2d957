"""Images/s of ``attention-center beam`` on Dask (1 and 2 workers) beside FnApiRunner and the
plain ``attention-center encode`` command, on the same images, in one run.

    python benchmarks/beam_dask_throughput.py --data_dir ../shared/data [--copies 4] [--noencode]

The images are the 24 Kodak photos, ``--copies`` times each (distinct names, symlinks).
Every run is a subprocess, timed from start to exit (Python start-up, model load, matching
and writing included):

* **encode command**: ``attention-center encode --image_dir IN --output_dir OUT
  --center_strategy model --nocjxl_defaults`` (the same cjxl work as the Beam job, which
  gets the same two flags: the model's centre, Google's flags; ``--jobs``: all CPUs,
  interpreter threads: all CPUs);
  with ``--noencode``, ``attention-center predict IN`` instead (JSON on stdout);
* **Beam FnApiRunner, N workers**: ``--runner=FnApiRunner --direct_num_workers=N``
  (``--direct_running_mode=multi_processing`` for N > 1);
* **Beam Dask, N workers**: ``--dask_workers N``: a ``LocalCluster`` of N worker processes
  (one thread each) started by the command for the job and closed after it (its start-up is
  in the time); the input listed in 4 pieces per worker.

CPU seconds are user + system of the finished child processes (workers and cjxl
included). The Beam runs' ``centers.jsonl`` (and ``.jxl`` files) are compared: the table
says whether Dask wrote the same bytes as FnApiRunner.
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
flags.DEFINE_integer("copies", 4, "Copies of each Kodak photo (24 x copies images).")
flags.DEFINE_bool("encode", True, "Time --encode (cjxl); --noencode: centres only.")
flags.DEFINE_list("dask_workers", ["1", "2"], "Dask worker process counts to time.")
flags.DEFINE_list("fnapi_workers", ["1", "2"], "FnApiRunner worker process counts to time.")


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_inputs(kodak: Path, copies: int, folder: Path) -> int:
    """``folder/cNN_kodimMM.png`` symlinks: ``copies`` x the 24 photos; returns the count."""
    n = 0
    for c in range(copies):
        for source in sorted(kodak.glob("*.png")):
            (folder / f"c{c:02d}_{source.name}").symlink_to(source.resolve())
            n += 1
    return n


def timed(command: list[str]) -> tuple[float, float]:
    """``(wall s, CPU s of the children)`` of one command; exits if it fails."""
    start, cpu = time.perf_counter(), _cpu_children()
    run = subprocess.run(command, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _cpu_children() - cpu
    if run.returncode != 0:
        raise SystemExit(f"{command[3:5]} failed ({run.returncode}):\n{run.stderr[-3000:]}")
    return wall, cpu


def beam_command(folder: Path, out: Path, extra: list[str]) -> list[str]:
    command = [sys.executable, "-m", "attention_center", "beam", "--input", f"{folder}/*.png"]
    command += ["--output", str(out), *extra]
    # The cjxl work of the recorded runs (docs/BENCHMARKS.md): the model's centre, no preview.
    encoding = ["--encode", "--center_strategy", "model", "--nocjxl_defaults"]
    return command + (encoding if FLAGS.encode else [])


def outputs(folder: Path) -> dict[str, bytes]:
    """``centers.jsonl`` and every ``.jxl`` under ``folder``, by relative path."""
    files = [folder / "centers.jsonl", *sorted((folder / "jxl").glob("*.jxl"))]
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files if p.is_file()}


def main(argv):
    del argv
    kodak = Path(FLAGS.data_dir) / "kodak"
    scratch = Path(tempfile.mkdtemp(prefix="beam-dask-bench-"))
    try:
        folder = scratch / "in"
        folder.mkdir()
        n = make_inputs(kodak, FLAGS.copies, folder)
        results = []
        if FLAGS.encode:
            name = "`attention-center encode` (1 process, all CPUs)"
            command = [sys.executable, "-m", "attention_center", "encode", "--image_dir"]
            command += [str(folder), "--output_dir", str(scratch / "encode"), "--noprogress"]
            command += ["--center_strategy", "model", "--nocjxl_defaults"]
        else:
            name = "`attention-center predict` (1 process, all CPUs)"
            command = [sys.executable, "-m", "attention_center", "predict", str(folder)]
            command += ["--noprogress"]
        results.append((name, *timed(command)))
        reference = None
        same = []
        for workers in (int(w) for w in FLAGS.fnapi_workers):
            out = scratch / f"fnapi{workers}"
            extra = ["--runner=FnApiRunner", f"--direct_num_workers={workers}"]
            if workers > 1:
                extra.append("--direct_running_mode=multi_processing")
            results.append(
                (
                    f"Beam FnApiRunner, {workers} worker process(es)",
                    *timed(beam_command(folder, out, extra)),
                )
            )
            reference = reference or outputs(out)
        for workers in (int(w) for w in FLAGS.dask_workers):
            out = scratch / f"dask{workers}"
            wall_cpu = timed(beam_command(folder, out, ["--dask_workers", str(workers)]))
            results.append(
                (f"Beam Dask, {workers} worker process(es) (cluster start included)", *wall_cpu)
            )
            same.append(outputs(out) == reference)
        rows = reference and sum(1 for _ in reference["centers.jsonl"].splitlines())
        assert rows == n, (rows, n)
        base = n / results[0][1]
        print(
            f"{n} images ({FLAGS.copies} x the 24 Kodak photos, 768x512 PNG), "
            f"{'--encode' if FLAGS.encode else 'centres only'}, {os.cpu_count()} CPUs; "
            f"Dask wrote the same bytes as FnApiRunner: {all(same)}\n"
        )
        print("| run | wall s | images/s | vs first row | CPU s / image |")
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
                    "encode": FLAGS.encode,
                    "same_bytes": all(same),
                    "runs": [
                        dict(name=r[0], wall_s=round(r[1], 2), cpu_s=round(r[2], 2))
                        for r in results
                    ],
                }
            )
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    app.run(main)
