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

Beam 2.77's DaskRunner collects no metrics (its ``PipelineResult.metrics()`` raises
``NotImplementedError``): :func:`counters` returns ``None`` there, and the command prints
what the output files tell (:func:`output_counts`).
"""

from __future__ import annotations

import json
from typing import Optional

from apache_beam.metrics.metric import MetricsFilter

from attention_center.beam.model_handler import METRICS_NAMESPACE

__all__ = ["COUNTERS", "counters", "format_counters", "output_counts"]

#: Our counters, in the order they are printed.
COUNTERS = ("images", "skipped", "errors", "encoded", "bytes_in", "bytes_out", "ignored")


def counters(result) -> Optional[dict[str, int]]:
    """``{name: value}`` of every counter in our namespace (committed values, else attempted),
    or ``None`` when the runner reports no metrics (Beam's DaskRunner).

    Args:
      result: a ``PipelineResult`` after ``wait_until_finish()``.
    """
    try:
        metrics = result.metrics()
    except NotImplementedError:
        return None
    query = metrics.query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
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


def output_counts(centers: bytes, errors: bytes) -> dict[str, int]:
    """What the written files tell, for runners without metrics: ``centres`` (rows in the
    centre files: this run's and earlier runs' alike), ``errors``, ``encoded`` (rows with a
    ``.jxl``), ``bytes_out`` (their sizes).

    Args:
      centers: the centre files' bytes, concatenated; errors: ``errors.jsonl``'s bytes.
    """
    rows = [json.loads(line) for line in centers.splitlines() if line.strip()]
    encoded = [row for row in rows if row.get("jxl")]
    return {
        "centres": len(rows),
        "errors": sum(1 for line in errors.splitlines() if line.strip()),
        "encoded": len(encoded),
        "bytes_out": sum(int(row.get("bytes_out") or 0) for row in encoded),
    }
