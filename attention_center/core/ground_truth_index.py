"""The on-disk ground-truth build: ``index.jsonl`` rows and frames (no Keras, no TensorFlow).

This is the contract between the builder (``python -m ground_truth build``, which
writes it) and the library (training, evaluation, export calibration, benchmarks,
which read it). Neither side imports the other; both use this module.

Layout of a build directory ``OUT``:

* ``OUT/index.jsonl``: one JSON object per (image, source) record, fields:
  ``image_id`` (``"<dataset>/<stem>"``, the same across sources), ``dataset``,
  ``source``, ``modality`` (``"eye"``/``"mouse"``/``"click"``), ``split``
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
  :func:`attention_center.core.images.resize_with_pad`, JPEG quality 92.
* ``OUT/stats.json``, ``OUT/stats.md``: the build report.

All coordinates: ``(x, y)``, 0-based pixel centres (see :mod:`attention_center.core.frames`).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from attention_center.core.atomic import atomic_path, atomic_write_text
from attention_center.core.files import resolved

__all__ = [
    "JPEG_QUALITY",
    "REQUIRED_FIELDS",
    "build_files",
    "choose_records",
    "encode_frame",
    "frame_name",
    "read_index",
    "resolve_image_path",
    "row_problem",
    "select_records",
    "write_frame",
    "write_index",
]

JPEG_QUALITY = 92


def frame_name(image_id: str) -> str:
    """``"osie/1001"`` -> ``"frames/osie_1001.jpg"`` (relative to the build dir)."""
    return "frames/" + image_id.replace("/", "_") + ".jpg"


def encode_frame(frame: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """A ``float32 [H, W, 3]`` frame in [0, 1] -> the JPEG bytes of a build's frame file.

    The one encoding of frames: :func:`write_frame` writes these bytes, and the TFDS form
    (``ground_truth.build.tfds_dataset``) stores them, so both hold the same file byte for byte.
    """
    array = np.clip(np.asarray(frame) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array, "RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def write_frame(path, frame: np.ndarray, quality: int = JPEG_QUALITY) -> None:
    """Writes a ``float32 [H, W, 3]`` frame in [0, 1] as a JPEG (:func:`encode_frame`),
    atomically."""
    data = encode_frame(frame, quality)
    with atomic_path(path) as temporary:
        Path(temporary).write_bytes(data)


def write_index(path, rows: Iterable[dict]) -> int:
    """Writes rows as JSON lines, atomically; returns the number of rows."""
    lines = [json.dumps(row, separators=(",", ":")) for row in rows]
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
    return len(lines)


#: The fields every index row must have (what the readers of a build index by key).
REQUIRED_FIELDS = (
    "image_id",
    "source",
    "split",
    "data_dir",
    "image_path",
    "frame_path",
    "original_hw",
    "center",
)
_TEXT_FIELDS = ("image_id", "source", "split", "data_dir", "image_path", "frame_path")
_OPTIONAL_TEXT_FIELDS = ("dataset", "modality")
_PAIR_FIELDS = ("original_hw", "center", "center_frame", "frame_hw")
_POINT_LIST_FIELDS = ("points", "points_frame")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_pair(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))


def row_problem(row, required: Sequence[str] = REQUIRED_FIELDS) -> Optional[str]:
    """What is wrong with one index row, in words; ``None`` when it is usable.

    Checks that ``row`` is a JSON object with every field of ``required`` and that the known
    fields present have their types: text for ``image_id``, ``source``, ``split``,
    ``data_dir``, ``image_path``, ``frame_path`` (and ``dataset``, ``modality``); ``[a, b]``
    of finite numbers for ``center``, ``center_frame``, ``original_hw``, ``frame_hw`` (the
    sizes positive); lists of such pairs for ``points``, ``points_frame``; a list of integers
    for ``observer_of_point``.
    """
    if not isinstance(row, dict):
        return f"not an index row (a JSON {type(row).__name__}, not an object)"
    missing = [name for name in required if name not in row]
    if missing:
        fields = "field" if len(missing) == 1 else "fields"
        return f"not an index row: no {', '.join(map(repr, missing))} {fields}"
    for name in _TEXT_FIELDS + _OPTIONAL_TEXT_FIELDS:
        if name in row and not (isinstance(row[name], str) and (row[name] or name == "split")):
            return f"field {name!r} must be a non-empty string, got {row[name]!r}"[:300]
    for name in _PAIR_FIELDS:
        if name in row and not _is_pair(row[name]):
            return f"field {name!r} must be [a, b] (two finite numbers), got {row[name]!r}"[:300]
    for name in ("original_hw", "frame_hw"):
        if name in row and min(row[name]) <= 0:
            return f"field {name!r} must be a positive [height, width], got {row[name]!r}"
    for name in _POINT_LIST_FIELDS:
        value = row.get(name)
        if name in row and not (isinstance(value, list) and all(map(_is_pair, value))):
            return f"field {name!r} must be a list of [x, y] (finite numbers)"
    observers = row.get("observer_of_point")
    if "observer_of_point" in row and not (
        isinstance(observers, list)
        and all(isinstance(o, int) and not isinstance(o, bool) for o in observers)
    ):
        return "field 'observer_of_point' must be a list of integers"
    return None


def read_index(
    build_dir, split: Optional[str] = None, sources=None, required: Sequence[str] = REQUIRED_FIELDS
) -> list[dict]:
    """Reads ``build_dir/index.jsonl``.

    Every line is checked (:func:`row_problem`), those of other splits and sources too, so a
    broken build is named at once by whoever reads it, never a ``KeyError`` later.

    Args:
      build_dir: the builder's ``--out``.
      split: keep only this split (``"train"``, ``"val"``, ``"test"``).
      sources: keep only these sources.
      required: the fields every row must have (default :data:`REQUIRED_FIELDS`).
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
    with open(path, "rb") as f:
        for number, data in enumerate(f, 1):
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{path}:{number}: not UTF-8 text") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON: {error}") from error
            problem = row_problem(row, required)
            if problem:
                raise ValueError(f"{path}:{number}: {problem}")
            if split is not None and row.get("split") != split:
                continue
            if sources is not None and row.get("source") not in sources:
                continue
            row["frame_abspath"] = str(resolved(build_dir / row["frame_path"]))  # a loop: no crash
            rows.append(row)
    return rows


def build_files(build_dir, rows: Optional[Iterable[dict]] = None) -> set[Path]:
    """Every file a reader of the build may read, resolved (:func:`~attention_center.core.
    files.resolved`): ``index.jsonl``, each row's frame and original image.

    For the commands' check that no output is one of their inputs.

    Args:
      build_dir: the build.
      rows: its rows (default: :func:`read_index`, which may raise).
    """
    build_dir = Path(build_dir)
    rows = read_index(build_dir) if rows is None else rows
    files = {resolved(build_dir / "index.jsonl")}
    for row in rows:
        files.add(resolved(build_dir / row["frame_path"]))
        files.add(resolved(resolve_image_path(row)))
    return files


def resolve_image_path(row: dict) -> Path:
    """The original image of an index row (``data_dir / image_path``)."""
    return Path(row["data_dir"]) / row["image_path"]


def select_records(
    build_dir,
    splits: str | Sequence[str],
    *,
    sources: Optional[Sequence[str]] = None,
    modality: Optional[str] = None,
    include_fallbacks: bool = False,
    max_images: Optional[int] = None,
    one_per_image: bool = False,
    require_sources: bool = False,
) -> list[dict]:
    """The index rows a job works on: the one record selection of the project.

    Args:
      build_dir: a ground-truth build (``index.jsonl``).
      splits, sources, modality, include_fallbacks, max_images, one_per_image,
        require_sources: see :func:`choose_records`.
    Returns:
      rows sorted by ``(image_id, source)``.
    Raises:
      FileNotFoundError, ValueError: not a build; a required source has no row.
    """
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    wanted = set(sources) if sources else None
    rows = [row for split in splits for row in read_index(build_dir, split=split, sources=wanted)]
    return choose_records(
        rows,
        splits,
        sources=sources,
        modality=modality,
        include_fallbacks=include_fallbacks,
        max_images=max_images,
        one_per_image=one_per_image,
        require_sources=require_sources,
        where=build_dir,
    )


def choose_records(
    rows: Iterable[dict],
    splits: str | Sequence[str],
    *,
    sources: Optional[Sequence[str]] = None,
    modality: Optional[str] = None,
    include_fallbacks: bool = False,
    max_images: Optional[int] = None,
    one_per_image: bool = False,
    require_sources: bool = False,
    where="ground truth",
) -> list[dict]:
    """The selection of :func:`select_records`, on rows already read (a build's, or a TFDS one's).

    Args:
      rows: index rows (the fields in the module docstring), from any splits and sources.
      splits: a split name or several (``("train", "val")``).
      sources: keep only these sources (``None``: all). With ``one_per_image`` their order
        is the preference.
      modality: ``"eye"``, ``"mouse"``, ``"click"``; ``None`` or ``"any"`` for all.
      include_fallbacks: keep rows whose centre is a fallback (not from people).
      max_images: keep the rows of the first this many image ids (sorted); ``None`` or 0:
        all.
      one_per_image: keep one row per image, of the first source in ``sources`` that has one.
      require_sources: raise when a source in ``sources`` has no row in these splits.
      where: names the ground truth in errors (a build directory, a ``tfds:`` spec).
    Returns:
      rows sorted by ``(image_id, source)``.
    Raises:
      ValueError: a required source has no row; a negative ``max_images`` (a slice would
        silently drop the last images).
    """
    if max_images is not None and max_images < 0:
        raise ValueError(f"max_images must be >= 1 (or None for all), got {max_images}")
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    wanted = set(sources) if sources else None
    rows = [
        row
        for row in rows
        if row.get("split") in splits and (wanted is None or row.get("source") in wanted)
    ]
    if require_sources and sources:
        missing = set(sources) - {row["source"] for row in rows}
        if missing:
            raise ValueError(
                f"{where}: no {'+'.join(splits)} records for source(s) {sorted(missing)}"
            )
    if modality and modality != "any":
        rows = [row for row in rows if row.get("modality") == modality]
    if not include_fallbacks:
        rows = [row for row in rows if not row.get("fallback")]
    if one_per_image:
        order = {name: i for i, name in enumerate(sources or ())}
        best: dict[str, dict] = {}
        for row in rows:
            current = best.get(row["image_id"])
            if current is None or (
                order.get(row["source"], len(order)) < order.get(current["source"], len(order))
            ):
                best[row["image_id"]] = row
        rows = list(best.values())
    rows.sort(key=lambda row: (row["image_id"], row["source"]))
    if max_images:
        keep = set(sorted({row["image_id"] for row in rows})[:max_images])
        rows = [row for row in rows if row["image_id"] in keep]
    return rows
