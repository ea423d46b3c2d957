"""Command line: ``python -m ground_truth build|measure ...``.

``measure``: ``python -m ground_truth measure --source osie_eye --counts 1,3,all
--onsets_ms 1000,none``: the table behind the temporal defaults
(:mod:`ground_truth.measure`).

``figure``: ``python -m ground_truth figure --out docs/img/ground_truth_filters.png``:
the picture of the filters (:mod:`ground_truth.figure`).

``build``: ``python -m ground_truth build --source osie_eye,scene_eye
--data_dir ../shared/data --out DIR [--seed 0] [--tfrecords]`` writes the
portable form (``index.jsonl``, ``frames/``, ``stats.json``, ``stats.md``; see
:mod:`ground_truth.portable`). Exit code 1 when anything was reported as an error.
"""

from __future__ import annotations

import logging
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_list("source", ["osie_eye", "scene_eye", "osie_mouse_lab", "osie_mouse_amt",
                             "salicon_mouse"], "Sources to read (comma separated).")
flags.DEFINE_string("data_dir", "../shared/data", "Folder holding the datasets.")
flags.DEFINE_string("out", None, "Output folder.")
flags.DEFINE_integer("seed", 0, "Split seed.")
flags.DEFINE_list("frame_hw", ["480", "640"], "Frame height,width.")
flags.DEFINE_bool("reuse_frames", False, "Keep frames already in OUT/frames.")
flags.DEFINE_bool("progress", True, "Show progress bars.")
flags.DEFINE_bool("tfrecords", False, "Also write sharded TFRecords to OUT/tfrecords.")
flags.DEFINE_integer("records_per_shard", 256, "Records per TFRecord file.")
flags.DEFINE_list("counts", ["1", "2", "3", "4", "5", "7", "10", "all"],
                  "measure: values of k (max_count).")
flags.DEFINE_list("onsets_ms", ["500", "1000", "1500", "2000", "3000", "none"],
                  "measure: values of T (max_onset_ms); mouse sources use none only.")
flags.DEFINE_integer("max_points", 201, "measure: leading points per observer considered.")

COMMANDS = ("build", "measure", "figure")


def _values(items, cast):
    return [None if v.lower() in ("all", "none") else cast(v) for v in items]


def main(argv) -> int:
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(f"usage: python -m ground_truth {{{'|'.join(COMMANDS)}}} --flags ...", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO)
    command = argv[1]
    if command == "build":
        from ground_truth.build import build

        if not FLAGS.out:
            print("--out is required", file=sys.stderr)
            return 2
        report = build(FLAGS.source, FLAGS.data_dir, FLAGS.out, seed=FLAGS.seed,
                       frame_hw=tuple(int(v) for v in FLAGS.frame_hw),
                       reuse_frames=FLAGS.reuse_frames, progress=FLAGS.progress,
                       tfrecords=FLAGS.tfrecords, records_per_shard=FLAGS.records_per_shard)
        from ground_truth.build import stats_markdown

        print(stats_markdown(report.stats))
        for error in report.errors:
            print(f"ERROR: {error}", file=sys.stderr)
        return 0 if report.ok else 1
    if command == "measure":
        from ground_truth.measure import measure_temporal, temporal_table_markdown
        from ground_truth.readers import read_source

        for name in FLAGS.source:
            records = read_source(name, FLAGS.data_dir).records
            onsets = _values(FLAGS.onsets_ms, float) if records[0].modality == "eye" else [None]
            rows = measure_temporal(records, _values(FLAGS.counts, int), onsets,
                                    seed=FLAGS.seed, max_points=FLAGS.max_points)
            print(temporal_table_markdown(name, rows))
        return 0
    if command == "figure":
        from ground_truth.figure import filters_figure

        print(filters_figure(FLAGS.data_dir, FLAGS.out or "docs/img/ground_truth_filters.png"))
        return 0
    return 2


def run() -> None:
    app.run(main)
