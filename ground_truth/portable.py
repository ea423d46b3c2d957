"""The portable form of the ground truth: JSON lines + JPEG frames, no TensorFlow.

Layout of a build directory ``OUT``:

* ``OUT/index.jsonl``: one JSON object per (image, source) record, fields:
  ``image_id`` (``"<dataset>/<stem>"``, the same across sources), ``dataset``,
  ``source``, ``modality`` (``"eye"``/``"mouse"``), ``split``
  (``"train"``/``"val"``/``"test"``), ``data_dir`` (absolute path of the data
  folder), ``image_path`` (the original image, **relative to** ``data_dir``),
  ``original_hw`` ``[h, w]`` as displayed, ``frame_hw`` ``[H, W]``,
  ``frame_path`` (``"frames/<dataset>_<stem>.jpg"``, relative to ``OUT``),
  ``center`` ``[x, y]`` original pixels, ``center_frame`` ``[x, y]`` frame
  pixels, ``points`` ``[[x, y], ...]`` (kept by both filters, original pixels),
  ``points_frame`` (same, frame pixels), ``observer_of_point`` (observer index
  per kept point), ``num_observers``, ``num_points_in``, ``num_points_kept``,
  ``fallback`` (``null`` or the reason).
* ``OUT/frames/*.jpg``: each image fitted into the frame with
  :func:`attention_center.image.resize_with_pad`, JPEG quality 92.
* ``OUT/stats.json``, ``OUT/stats.md``: the build report.

All coordinates: ``(x, y)``, 0-based pixel centres (see :mod:`attention_center.image`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
from PIL import Image

__all__ = ["read_index", "write_index", "write_frame", "atomic_write_text", "frame_name",
           "JPEG_QUALITY", "resolve_image_path"]

JPEG_QUALITY = 92


def frame_name(image_id: str) -> str:
    """``"osie/1001"`` -> ``"frames/osie_1001.jpg"`` (relative to the build dir)."""
    return "frames/" + image_id.replace("/", "_") + ".jpg"


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` via a temp file in the same dir + ``os.replace``."""
    _atomic(Path(path), lambda f: f.write(text.encode("utf-8")))


def write_frame(path, frame: np.ndarray, quality: int = JPEG_QUALITY) -> None:
    """Writes a ``float32 [H, W, 3]`` frame in [0, 1] as a JPEG, atomically."""
    array = np.clip(np.asarray(frame) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    image = Image.fromarray(array, "RGB")
    _atomic(Path(path), lambda f: image.save(f, format="JPEG", quality=quality))


def write_index(path, rows: Iterable[dict]) -> int:
    """Writes rows as JSON lines, atomically; returns the number of rows."""
    lines = [json.dumps(row, separators=(",", ":")) for row in rows]
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
    return len(lines)


def read_index(build_dir, split: Optional[str] = None, sources=None) -> list[dict]:
    """Reads ``build_dir/index.jsonl``.

    Args:
      build_dir: the builder's ``--out``.
      split: keep only this split (``"train"``, ``"val"``, ``"test"``).
      sources: keep only these sources.
    Returns:
      list of dicts (fields in the module docstring) with one extra key,
      ``"frame_abspath"``: the frame's absolute path.
    Raises:
      FileNotFoundError / ValueError naming the file and line.
    """
    build_dir = Path(build_dir)
    path = build_dir / "index.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (not a ground_truth build directory?)")
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON: {error}") from error
            if split is not None and row.get("split") != split:
                continue
            if sources is not None and row.get("source") not in sources:
                continue
            row["frame_abspath"] = str((build_dir / row["frame_path"]).resolve())
            rows.append(row)
    return rows


def resolve_image_path(row: dict) -> Path:
    """The original image of an index row (``data_dir / image_path``)."""
    return Path(row["data_dir"]) / row["image_path"]
