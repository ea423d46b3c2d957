"""Model centres -> image centres, JPEG XL files and per-image records: a DoFn.

:class:`FinishImages` takes ``RunInference``'s ``(ImageKey, PredictionResult)`` pairs and
emits one ``(tag, row)`` pair per image on its one output (no tagged outputs, see
:mod:`attention_center.beam.decode`): ``("centers", row)`` after it

1. maps the frame centre back to the image exactly as
   :func:`attention_center.inference.prediction.predict_images` does:
   ``key.transform.points_to_original(frame_center, clamp=True)`` (0-based pixel centres of
   the image as displayed, EXIF included, clamped to the image);
2. with ``encode``, writes ``OUT/jxl/<relative>.jxl``
   (:func:`attention_center.beam.encode.encode_jxl`);
3. writes the centre row to ``OUT/records/<relative>.json`` (atomically, last: a record
   means the image is done).

A failure emits ``("errors", row)`` instead, a dead-letter row (stage ``"predict"`` when the
model failed on the image's batch, :class:`~attention_center.beam.model_handler.InferenceFailure`;
``"encode"`` or ``"write"``): a file is either in the centres or in the errors, never both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Optional

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from attention_center.beam import io as beam_io
from attention_center.beam.encode import encode_jxl
from attention_center.beam.model_handler import METRICS_NAMESPACE, InferenceFailure
from attention_center.beam.records import OutputLayout, center_row, dead_letter
from attention_center.jxl.encoder import EncoderError

__all__ = ["CENTERS", "ERRORS", "FinishImages", "row_bytes"]

#: The tags of :class:`FinishImages`' ``(tag, row)`` outputs.
CENTERS, ERRORS = "centers", "errors"


def row_bytes(row: dict) -> bytes:
    """A row as one JSON line (UTF-8, ``\\n``-terminated): the form of every output file."""
    return (json.dumps(row) + "\n").encode("utf-8")


class FinishImages(beam.DoFn):
    """Maps, encodes and records each predicted image (see the module docstring).

    Args:
      model_name: the model's name for the rows (``"default"``, a file name).
      layout: the output folder; ``None`` writes nothing (rows only, for users' pipelines).
      encode: also write the JPEG XL file (needs ``layout``).
      encoder: the cjxl binary; extra_flags: more cjxl flags; cjxl_threads: its threads.
      center_strategy: which centre cjxl gets (``"model"`` or ``"chosen"``;
        :func:`~attention_center.beam.encode.encode_jxl`).
    """

    def __init__(
        self,
        model_name: str,
        layout: Optional[OutputLayout] = None,
        encode: bool = False,
        encoder: str = "cjxl",
        extra_flags: Sequence[str] = (),
        cjxl_threads: Optional[int] = 1,
        center_strategy: str = "model",
    ):
        if encode and layout is None:
            raise ValueError("encoding needs an output folder (layout)")
        self._model_name = model_name
        self._layout = layout
        self._encode = encode
        self._encoder = encoder
        self._extra_flags = tuple(extra_flags)
        self._cjxl_threads = cjxl_threads
        self._center_strategy = center_strategy
        self._images = Metrics.counter(METRICS_NAMESPACE, "images")
        self._encoded = Metrics.counter(METRICS_NAMESPACE, "encoded")
        self._errors = Metrics.counter(METRICS_NAMESPACE, "errors")
        self._bytes_out = Metrics.counter(METRICS_NAMESPACE, "bytes_out")

    def _fail(self, path: str, stage: str, message: str):
        self._errors.inc()
        return ERRORS, dead_letter(path, stage, message)

    def process(self, element):
        key, result = element
        if isinstance(result.inference, InferenceFailure):
            yield self._fail(key.file, "predict", result.inference.message)
            return
        # The one coordinate transform, as predict_images applies it.
        center = key.transform.points_to_original(
            np.asarray(result.inference, np.float64), clamp=True
        )
        row = center_row(key, center, self._model_name, result.model_id)
        if self._encode:
            destination = self._layout.jxl(key.relative)
            try:
                stored_center, size = encode_jxl(
                    key.file,
                    destination,
                    center,
                    key.original_hw,
                    self._encoder,
                    self._extra_flags,
                    self._cjxl_threads,
                    self._center_strategy,
                )
            except EncoderError as error:
                yield self._fail(key.file, "encode", str(error))
                return
            except Exception as error:  # noqa: BLE001 - re-read or upload failed
                yield self._fail(
                    key.file,
                    "write",
                    f"cannot write {destination}: {type(error).__name__}: {error}",
                )
                return
            row.update(
                jxl=beam_io.printable(self._layout.jxl_name(key.relative)),
                jxl_center=None if stored_center is None else [int(v) for v in stored_center],
                bytes_out=int(size),
            )
            self._encoded.inc()
            self._bytes_out.inc(int(size))
        if self._layout is not None:
            record = self._layout.record(key.relative)
            try:
                beam_io.write_atomic(record, row_bytes(row))
            except Exception as error:  # noqa: BLE001
                yield self._fail(
                    key.file, "write", f"cannot write {record}: {type(error).__name__}: {error}"
                )
                return
        self._images.inc()
        yield CENTERS, row
