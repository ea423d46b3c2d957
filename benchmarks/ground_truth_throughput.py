"""Throughput of the ground-truth code: filters + centre, readers, the training input.

    TF_CPP_MIN_LOG_LEVEL=2 python benchmarks/ground_truth_throughput.py \
        --data_dir ../shared/data [--gt_dir /work/gt] [--repeats 3]

Reports records/s and points/s (points in = all valid points given to the
filters) for the one vectorized implementation (:func:`ground_truth.filters.
filter_and_center` on padded batches, as the builder runs it), the readers,
and, with ``--gt_dir``, examples/s of the training input pipeline (CenterDataset).
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from ground_truth import filters as F  # noqa: E402
from ground_truth.readers import read_source  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", "../shared/data", "Datasets folder.")
flags.DEFINE_list(
    "source",
    ["osie_eye", "scene_eye", "osie_mouse_lab", "osie_mouse_amt", "salicon_mouse"],
    "Sources.",
)
flags.DEFINE_integer("batch", 64, "Records per padded batch.")
flags.DEFINE_integer("repeats", 3, "Timed repeats (best is reported).")
flags.DEFINE_string("gt_dir", None, "A portable build to time the training input pipeline on.")
flags.DEFINE_integer("pipeline_batches", 30, "Batches of 32 to time of the training input.")


def time_filters(records, batch):
    t, s = F.params_for(records[0])
    chunks = [
        F.pad_records(records[i : i + batch], max_points=t.points_needed)
        for i in range(0, len(records), batch)
    ]
    points = int(sum(c.valid.sum() for c in chunks))
    best = np.inf
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        for c in chunks:
            F.filter_and_center(c, t, s)
        best = min(best, time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, len(records), batch):
        F.pad_records(records[i : i + batch], max_points=t.points_needed)
    pad = time.perf_counter() - start
    return best, pad, points


def main(argv):
    del argv
    print(
        "| source | records | read s | points given to filters | filter s | records/s | "
        "points/s | padding s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in FLAGS.source:
        start = time.perf_counter()
        records = read_source(name, FLAGS.data_dir).records
        read_s = time.perf_counter() - start
        seconds, pad, points = time_filters(records, FLAGS.batch)
        print(
            f"| {name} | {len(records)} | {read_s:.2f} | {points} | {seconds:.3f} | "
            f"{len(records) / seconds:,.0f} | {points / seconds:,.0f} | {pad:.2f} |"
        )
    if FLAGS.gt_dir:
        from attention_center.core.ground_truth_index import read_index
        from attention_center.training.dataset import CenterDataset

        records = read_index(FLAGS.gt_dir, split="train")
        ds = CenterDataset(
            FLAGS.gt_dir, records, frame_hw=(240, 320), batch_size=32, training=True, map_stride=4
        )
        ds[0]  # frames decoded once and kept
        start = time.perf_counter()
        for step in range(FLAGS.pipeline_batches):
            ds[step % len(ds)]
        seconds = time.perf_counter() - start
        print(
            f"\ntraining input (CenterDataset, portable, 240x320, augmented, batch 32): "
            f"{FLAGS.pipeline_batches * 32 / seconds:,.1f} examples/s"
        )


if __name__ == "__main__":
    app.run(main)
