"""Ground truth for attention centres from eye-tracking, mouse and click records.

Raw records (:mod:`ground_truth.readers`, :class:`ground_truth.records.Record`) -> temporal
and spatial filters and centre (:mod:`ground_truth.filters`) -> the portable build
(:mod:`ground_truth.build`; ``attention-center ground-truth build``), its TFRecords and the
tf.data pipeline that re-filters them (:mod:`ground_truth.build.tfrecords`, TensorFlow needed
only there), its TFDS and Beam forms. :mod:`ground_truth.training_use` says which sources train
and with what weight; :mod:`ground_truth.studies` holds the measurements behind the defaults.
Depends on :mod:`attention_center.core` only. Points are ``(x, y)``, 0-based pixel centres of
the image as displayed; sizes ``(h, w)``.
"""

from ground_truth.records import Record, RecordError

__all__ = ["Record", "RecordError"]
