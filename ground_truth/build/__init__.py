"""Building the ground truth: records -> filtered centres -> the portable build and its other forms.

* :mod:`ground_truth.build.builder`: the portable build (``index.jsonl``, ``frames/``,
  ``stats.json``), numpy and Pillow only; its public names are re-exported here;
* :mod:`ground_truth.build.tfrecords`: TFRecords of the build and the tf.data reader that
  re-runs the temporal and spatial filters in the graph (TensorFlow, imported lazily);
* :mod:`ground_truth.build.tfds_dataset` and :mod:`ground_truth.build.tfds_card`: the
  TensorFlow Datasets builder and its dataset card;
* :mod:`ground_truth.build.beam`: the same build as an Apache Beam transform.
"""

from ground_truth.build.builder import (
    BATCH,
    OUTPUT_FILES,
    BuildReport,
    build,
    check_frame_hw,
    make_frame,
    output_clashes,
    records_to_rows,
    stats_markdown,
    write_frames,
)

__all__ = [
    "BATCH",
    "OUTPUT_FILES",
    "BuildReport",
    "build",
    "check_frame_hw",
    "make_frame",
    "output_clashes",
    "records_to_rows",
    "stats_markdown",
    "write_frames",
]
