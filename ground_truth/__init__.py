"""Ground truth for attention centres from eye-tracking and mouse records.

Raw records (:mod:`ground_truth.readers`) -> temporal and spatial filters and
centre (:mod:`ground_truth.filters`) -> a portable build (:mod:`attention_center.core.ground_truth_index`,
written by ``python -m ground_truth build``) -> TFRecords and a tf.data pipeline
(:mod:`ground_truth.tfrecords`, :mod:`ground_truth.pipeline`, TensorFlow needed
only there). Points are ``(x, y)``, 0-based pixel centres, sizes ``(h, w)``.
"""

from ground_truth.records import Record, RecordError

__all__ = ["Record", "RecordError"]
