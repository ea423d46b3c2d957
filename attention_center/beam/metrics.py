"""The job's Beam counters, read back from a finished pipeline and printed.

Counters (namespace :data:`~attention_center.beam.model_handler.METRICS_NAMESPACE`,
``attention_center``):

==================  =========================================================
``images``          images whose centre was computed and recorded in this run
``skipped``         inputs already done by an earlier run (``--skip_existing``)
``errors``          dead-letter rows (any stage)
``encoded``         ``.jxl`` files written
``bytes_in``        bytes of the input files decoded
``bytes_out``       bytes of the ``.jxl`` files written
``ignored``         matched files that are not images (suffix), hidden, or outputs
``images_decoded``  inputs decoded into frames (``images`` + later failures)
==================  =========================================================

RunInference adds its own (``num_inferences``, ``inference_batch_latency_micro_secs``, ...)
in the same namespace.
"""

from __future__ import annotations

from apache_beam.metrics.metric import MetricsFilter

from attention_center.beam.model_handler import METRICS_NAMESPACE

__all__ = ["COUNTERS", "counters", "format_counters"]

#: Our counters, in the order they are printed.
COUNTERS = ("images", "skipped", "errors", "encoded", "bytes_in", "bytes_out", "ignored")


def counters(result) -> dict[str, int]:
    """``{name: value}`` of every counter in our namespace (committed values, else attempted).

    Args:
      result: a ``PipelineResult`` after ``wait_until_finish()``.
    """
    query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    values: dict[str, int] = {}
    for counter in query.get("counters", []):
        value = counter.committed if counter.committed is not None else counter.attempted
        name = counter.key.metric.name
        values[name] = values.get(name, 0) + int(value or 0)
    return values


def format_counters(values: dict[str, int]) -> str:
    """One line: ``images 24, skipped 0, errors 1, encoded 24, bytes_in 14.2 MB, ...``."""
    parts = []
    for name in COUNTERS:
        value = int(values.get(name, 0))
        if name.startswith("bytes"):
            parts.append(f"{name} {value:,} ({value / 1e6:.1f} MB)")
        else:
            parts.append(f"{name} {value:,}")
    return ", ".join(parts)
