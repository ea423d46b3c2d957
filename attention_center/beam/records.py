"""What the Beam pipeline writes: the output folder's layout and its two kinds of rows.

Layout of ``--output OUT`` (names depend only on the inputs' paths relative to the input
glob's folder, :func:`attention_center.beam.io.glob_base`, so reruns find them)::

    OUT/centers.jsonl              one centre row per image, sorted by file
                                   (centers-SSSSS-of-NNNNN.jsonl with --num_shards N > 1)
    OUT/errors.jsonl               one dead-letter row per failed input, sorted by file
    OUT/records/<relative>.json    each image's centre row, written as soon as it is done:
                                   the state a rerun resumes from (--skip_existing)
    OUT/jxl/<relative>.jxl         with --encode: a/b.jpg -> jxl/a/b.jpg.jxl (Google's naming)

A **centre row** (:func:`center_row`)::

    {"file": "/data/a.jpg", "width": 768, "height": 512, "x": 401.2, "y": 230.9,
     "model": "default", "model_version": "1.3.0"}

``(x, y)``: the attention centre, 0-based pixel centres of the image **as displayed** (EXIF
orientation applied), x first, clamped to ``[0, width - 1] x [0, height - 1]``: exactly
what ``attention-center predict`` prints (unrounded); ``width``/``height`` are the displayed
size. With ``--encode`` the row also has ``"jxl"`` (the output file, relative to ``OUT``, so
the folder can be moved or synced), ``"jxl_center"``
(the integer ``--center_x/--center_y`` given to cjxl, in the file's *stored* orientation)
and ``"bytes_out"``.

A **dead-letter row** (:func:`dead_letter`): ``{"file", "stage", "message"}``, ``stage``
one of :data:`STAGES`.
"""

from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath
from typing import Any, Optional

from attention_center.beam import io as beam_io
from attention_center.core.frames import FrameTransform
from attention_center.jxl.batch import output_path_for

__all__ = ["ImageKey", "OutputLayout", "STAGES", "center_row", "dead_letter"]

#: Where an input can fail: reading its bytes (or too large), decoding it, the model,
#: cjxl, writing an output.
STAGES = ("read", "decode", "predict", "encode", "write")


@dataclasses.dataclass(frozen=True)
class ImageKey:
    """One decoded image on its way through ``RunInference`` (the key of its frame).

    Attributes:
      file: the input path as matched (absolute for local files).
      relative: its path relative to the input glob's folder (posix), for output names.
      bytes_in: the file's size in bytes.
      original_hw: ``(h, w)`` of the image as displayed (EXIF applied).
      transform: the :class:`~attention_center.core.frames.FrameTransform` of its frame.
    """

    file: str
    relative: str
    bytes_in: int
    original_hw: tuple[int, int]
    transform: FrameTransform


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """Paths under the output folder (local or ``gs://`` / ``s3://``).

    Attributes:
      root: the output folder.
      num_shards: how many ``centers`` files.
      new_suffix: suffix of the encoded files (``a.jpg`` -> ``a.jpg.jxl``).
    """

    root: str
    num_shards: int = 1
    new_suffix: str = "jxl"

    def centers(self) -> list[str]:
        """The centre files, shard order."""
        if self.num_shards == 1:
            return [beam_io.join(self.root, "centers.jsonl")]
        return [
            beam_io.join(self.root, f"centers-{i:05d}-of-{self.num_shards:05d}.jsonl")
            for i in range(self.num_shards)
        ]

    def errors(self) -> str:
        return beam_io.join(self.root, "errors.jsonl")

    def record(self, relative: str) -> str:
        """``OUT/records/<relative>.json``: one image's centre row."""
        return beam_io.join(self.root, f"records/{relative}.json")

    def jxl_name(self, relative: str) -> str:
        """``jxl/<relative>.<new_suffix>``, relative to the root (``encode``'s naming)."""
        name = output_path_for(
            PurePosixPath(relative), PurePosixPath("."), PurePosixPath("jxl"), self.new_suffix
        )
        return PurePosixPath(name).as_posix()

    def jxl(self, relative: str) -> str:
        """``OUT/jxl/<relative>.<new_suffix>``."""
        return beam_io.join(self.root, self.jxl_name(relative))


def center_row(key: ImageKey, center, model: str, model_version: Optional[str]) -> dict:
    """The centre row of an image (fields in the module docstring).

    Args:
      key: the image.
      center: ``(x, y)`` original (displayed) pixels, float.
      model: the model's name; model_version: its version.
    """
    return {
        "file": beam_io.printable(key.file),
        "width": int(key.original_hw[1]),
        "height": int(key.original_hw[0]),
        "x": float(center[0]),
        "y": float(center[1]),
        "model": model,
        "model_version": model_version,
    }


def dead_letter(file: str, stage: str, message: Any) -> dict:
    """A dead-letter row: which input failed, at which of :data:`STAGES`, and why (one line).

    The file and the message are :func:`~attention_center.beam.io.printable` (valid UTF-8)."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    text = beam_io.printable(" ".join(str(message).split()))
    return {"file": beam_io.printable(str(file)), "stage": stage, "message": text[:2000]}
