"""Input files -> model frames, with the project's one decoder: a DoFn.

:class:`DecodeFrames` takes the files ``fileio.ReadMatches`` yields (or ``FileMetadata`` or
plain path strings) and emits, for each, one ``(tag, value)`` pair on its one output (no
tagged outputs: Beam's DaskRunner sends every tagged output down every branch;
:func:`attention_center.beam.transforms.values_of` selects one tag), either

* ``("frames", (ImageKey, frame))``: the image decoded straight into the model
  frame by :func:`attention_center.core.images.decode_into_frame` (EXIF orientation applied;
  large JPEGs at the reduced DCT scale the frame needs; more than ``max_pixels`` refused;
  ``float32 [H, W, 3]`` in [0, 1]): the same code, hence the same pixels, as
  ``attention-center predict``;
* or, with ``skip_existing``, ``("skipped", row)``: the image's earlier centre row when
  ``OUT/records/<relative>.json`` holds one from the same model (and, with ``encode``, one
  that was encoded);
* or ``("errors", row)``: a dead-letter row (stage ``"read"``: unreadable or larger than
  ``max_bytes``; ``"decode"``: not an image, corrupt, truncated, too many pixels).

Remote files (``gs://``...) are streamed to a local temporary file for Pillow.
"""

from __future__ import annotations

import json
import os
from typing import Optional

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes, FileMetadata
from apache_beam.metrics import Metrics

from attention_center.beam import io as beam_io
from attention_center.beam.model_handler import METRICS_NAMESPACE
from attention_center.beam.records import ImageKey, OutputLayout, dead_letter
from attention_center.core.frames import MODEL_FRAME_HW
from attention_center.core.images import DEFAULT_MAX_PIXELS, ImageLoadError, decode_into_frame

__all__ = ["DEFAULT_MAX_BYTES", "DecodeFrames", "ERRORS", "FRAMES", "SKIPPED"]

#: Largest input file read by default (bytes); larger ones are dead-lettered at "read".
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
#: The tags of :class:`DecodeFrames`' ``(tag, value)`` outputs.
FRAMES, ERRORS, SKIPPED = "frames", "errors", "skipped"


def _path_and_size(element) -> tuple[str, int, object]:
    """``(path, size in bytes, ReadableFile or None)`` of a ReadMatches/MatchFiles/str element."""
    metadata = getattr(element, "metadata", None)
    readable = element if metadata is not None else None
    if metadata is None:
        metadata = element if isinstance(element, FileMetadata) else None
    if metadata is None:
        path = os.fspath(element)
        size = os.path.getsize(path) if beam_io.is_local(path) and os.path.isfile(path) else -1
        return path, size, None
    return metadata.path, int(metadata.size_in_bytes or 0), readable


class DecodeFrames(beam.DoFn):
    """Decodes each input file into a model frame (``(tag, value)`` outputs: module docstring).

    Args:
      base: the folder output names are relative to (the input glob's fixed part).
      frame_hw: ``(H, W)`` of the model's frame.
      layout: the output folder (``None``: no skip check).
      skip_existing: skip inputs whose record exists for ``model_version``.
      model_version: the version a record must have to be skipped.
      encode: a record must also say it was encoded to be skipped.
      max_bytes: larger files are dead-lettered without being read.
      max_pixels: images with more pixels are dead-lettered (``None``: no limit).
    """

    def __init__(
        self,
        base: str,
        frame_hw=MODEL_FRAME_HW,
        layout: Optional[OutputLayout] = None,
        skip_existing: bool = False,
        model_version: Optional[str] = None,
        encode: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    ):
        self._base = base
        self._frame_hw = (int(frame_hw[0]), int(frame_hw[1]))
        self._layout = layout
        self._skip_existing = skip_existing and layout is not None
        self._model_version = model_version
        self._encode = encode
        self._max_bytes = int(max_bytes)
        self._max_pixels = max_pixels
        self._images = Metrics.counter(METRICS_NAMESPACE, "images_decoded")
        self._skipped = Metrics.counter(METRICS_NAMESPACE, "skipped")
        self._errors = Metrics.counter(METRICS_NAMESPACE, "errors")
        self._bytes_in = Metrics.counter(METRICS_NAMESPACE, "bytes_in")

    def _earlier_row(self, path: str, relative: str) -> Optional[dict]:
        """The record of an earlier run that makes this input done, or ``None``."""
        record_path = self._layout.record(relative)
        try:
            if not beam_io.exists(record_path):
                return None
            row = json.loads(beam_io.read_bytes(record_path).decode("utf-8"))
        except (OSError, ValueError):
            return None  # unreadable: redo it
        if not isinstance(row, dict) or row.get("file") != beam_io.printable(path):
            return None
        if row.get("model_version") != self._model_version:
            return None
        if self._encode and not row.get("jxl"):
            return None
        return row

    def _fail(self, path: str, stage: str, message: str):
        self._errors.inc()
        return ERRORS, dead_letter(path, stage, message)

    def process(self, element):
        path, size, readable = _path_and_size(element)
        relative = beam_io.relative_name(path, self._base)
        if self._skip_existing:
            row = self._earlier_row(path, relative)
            if row is not None:
                self._skipped.inc()
                yield SKIPPED, row
                return
        if size > self._max_bytes:
            yield self._fail(
                path,
                "read",
                f"{size:,} bytes is more than the {self._max_bytes:,} allowed (--max_bytes)",
            )
            return
        try:
            reader = None
            if readable is not None and not beam_io.is_local(path):
                reader = readable.open(compression_type=CompressionTypes.UNCOMPRESSED)
            with beam_io.local_copy(path, reader) as local:
                frame, transform, decoded = decode_into_frame(
                    local, self._frame_hw, max_pixels=self._max_pixels
                )
        except ImageLoadError as error:
            yield self._fail(path, "decode", error.reason)
            return
        except Exception as error:  # noqa: BLE001 - any storage failure is this file's error
            yield self._fail(path, "read", f"cannot read: {type(error).__name__}: {error}")
            return
        self._images.inc()
        self._bytes_in.inc(max(size, 0))
        key = ImageKey(
            file=path,
            relative=relative,
            bytes_in=max(size, 0),
            original_hw=tuple(int(v) for v in decoded.original_hw),
            transform=transform,
        )
        yield FRAMES, (key, frame)
