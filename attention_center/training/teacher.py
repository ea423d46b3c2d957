"""Knowledge distillation: a trained model's centres and weighting maps as soft training targets.

A *teacher* (any model spec :func:`attention_center.inference.predictors.load_predictor`
takes, e.g. the ``large`` preset's ``.keras``) is run once on the stored frames of a
ground-truth build (``frames/*.jpg``, the images fitted into the 480x640 model frame), and
each image gets a :class:`TeacherTarget`:

* ``center``: the teacher's centre, (x, y) in pixels of the stored frame (as ``center_frame``
  of the index rows);
* ``points`` / ``weights``: the teacher's weighting map as weighted points, the cells that
  hold ``mass`` (95%) of the map, at their centres in frame pixels, weights summing to 1.
  As points they go through the same augmentation (crop, flip) as the human fixations, and
  become a density target the same way (``core.density.density_map(..., weights=...)``).

Targets are cached per teacher file (its sha256) and build in
``<build>/teacher/<digest>.npz``, written atomically, so the runs of a leave-one-dataset-out
study compute them once. A prepared TFDS dataset (``--data tfds:...``) has no build folder:
its frames are read from the dataset and the cache goes in the run folder
(``<run>/teacher/``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from attention_center.core.atomic import atomic_path
from attention_center.core.frames import frame_transform
from attention_center.data.stored_frames import read_stored_frame

__all__ = ["TeacherTarget", "teacher_targets"]


@dataclasses.dataclass(frozen=True)
class TeacherTarget:
    """A teacher's prediction on one stored frame.

    Attributes:
      center: ``float32 [2]``, (x, y) in stored-frame pixels.
      points: ``float32 [N, 2]``, (x, y) stored-frame pixels of the map cells kept.
      weights: ``float32 [N]``, their share of the map's mass (sums to 1).
    """

    center: np.ndarray
    points: np.ndarray
    weights: np.ndarray


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def map_to_weighted_points(
    weight_map: np.ndarray, frame_hw, mass: float = 0.95, max_points: int = 800
) -> tuple[np.ndarray, np.ndarray]:
    """The cells of a weighting map that hold ``mass`` of it, as (x, y) frame points + weights.

    Args:
      weight_map: ``float [h, w]`` (non-negative) on a grid that covers the frame.
      frame_hw: ``(H, W)`` of the frame.
      mass: fraction of the total weight to keep (largest cells first).
      max_points: at most this many cells.
    Returns:
      ``(points float32 [N, 2], weights float32 [N])``; weights sum to 1.
    """
    grid = np.clip(np.asarray(weight_map, np.float64), 0.0, None)
    total = grid.sum()
    if total <= 0:
        return np.zeros((0, 2), np.float32), np.zeros(0, np.float32)
    flat = grid.ravel() / total
    order = np.argsort(-flat)
    keep = order[: min(max_points, int(np.searchsorted(np.cumsum(flat[order]), mass)) + 1)]
    rows, cols = np.unravel_index(keep, grid.shape)
    to_frame = frame_transform(grid.shape, frame_hw)
    points = to_frame.points_to_frame(np.stack([cols, rows], axis=-1).astype(np.float64))
    weights = flat[keep] / flat[keep].sum()
    return points.astype(np.float32), weights.astype(np.float32)


def teacher_targets(
    teacher,
    build_dir,
    records: Sequence[Mapping],
    batch_size: int = 8,
    cache: bool = True,
    progress: bool = False,
    frames: Optional[Mapping[str, np.ndarray]] = None,
    cache_dir=None,
) -> dict[str, TeacherTarget]:
    """The teacher's target for every image of ``records`` (by ``image_id``).

    Args:
      teacher: a model spec with a weighting map output (a ``.keras``/``.tflite`` path, or a
        preset name: ``"large"`` means its ``.keras`` file, the one with the map); it must
        take the stored frame size (480x640).
      build_dir: the ground-truth build (frames are read from it; the cache goes in it), or,
        with ``frames``, what names the data in errors (a ``tfds:`` spec).
      records: index rows (``image_id``, ``frame_path``).
      batch_size: frames per teacher call.
      cache: read/write ``<cache_dir>/<teacher digest>.npz``.
      progress: a progress bar.
      frames: ``frame_path -> uint8 [H, W, 3]`` (a prepared TFDS dataset's
        :class:`~attention_center.data.stored_frames.FrameStore`); ``None``: the build's files.
      cache_dir: where the cache goes; default ``<build>/teacher`` for a portable build, none
        (no cache) with ``frames``.
    Raises:
      ValueError: the teacher has no weighting map or another frame size; a frame is unreadable.
    """
    from attention_center.inference.predictors import load_predictor
    from attention_center.presets import resolve_model

    if isinstance(teacher, (str, os.PathLike)):  # a preset's .tflite has no map: its .keras
        teacher = resolve_model(teacher, fmt="keras")
    predictor = load_predictor(teacher, batch_size=batch_size)
    if not predictor.has_weight_map:
        raise ValueError(f"{predictor.name}: a teacher needs a weighting-map output")
    store = frames
    if cache_dir is None and store is None:
        cache_dir = Path(build_dir) / "teacher"
    frames = {r["image_id"]: r["frame_path"] for r in records}
    cached: dict[str, TeacherTarget] = {}
    cache_path = None
    if cache and predictor.path and cache_dir is not None:
        cache_path = Path(cache_dir) / f"{_digest(Path(predictor.path))}.npz"
        if cache_path.is_file():
            with np.load(cache_path, allow_pickle=False) as data:
                for image_id in data["image_ids"]:
                    key = str(image_id)
                    cached[key] = TeacherTarget(
                        data[f"{key}|center"], data[f"{key}|points"], data[f"{key}|weights"]
                    )
    todo = sorted(set(frames) - set(cached))
    if todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="teacher", unit="img", disable=not progress)
        for start in range(0, len(todo), batch_size):
            ids = todo[start : start + batch_size]
            batch = []
            for image_id in ids:
                path = frames[image_id]
                pixels = read_stored_frame(build_dir, path, store).astype(np.float32) / 255.0
                if pixels.shape[:2] != tuple(predictor.frame_hw):
                    raise ValueError(
                        f"{build_dir}/{path}: frame {pixels.shape[:2]} is not the teacher's "
                        f"{tuple(predictor.frame_hw)}"
                    )
                batch.append(pixels)
            out = predictor.predict_frames(np.stack(batch))
            for k, image_id in enumerate(ids):
                points, weights = map_to_weighted_points(
                    out["weight_map"][k][..., 0], predictor.frame_hw
                )
                cached[image_id] = TeacherTarget(
                    np.asarray(out["center"][k], np.float32), points, weights
                )
            bar.update(len(ids))
        bar.close()
        if cache_path is not None:
            arrays = {"image_ids": np.asarray(sorted(cached))}
            for key, target in cached.items():
                arrays[f"{key}|center"] = target.center
                arrays[f"{key}|points"] = target.points
                arrays[f"{key}|weights"] = target.weights
            with atomic_path(cache_path, suffix=".npz") as temporary:
                np.savez(temporary, **arrays)
    return {image_id: cached[image_id] for image_id in frames}


def blended_target(
    human_points: np.ndarray,
    human_weights: Optional[np.ndarray],
    teacher: Optional[TeacherTarget],
    teacher_weight: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Human fixation points and the teacher's map cells as one weighted point set.

    The density target built from them is ``(1 - teacher_weight)`` of the human density plus
    ``teacher_weight`` of the teacher's (each normalised to sum 1).

    Returns:
      ``(points float32 [N, 2], weights float32 [N])``.
    """
    human_points = np.asarray(human_points, np.float32).reshape(-1, 2)
    n = len(human_points)
    human_weights = (
        np.full(n, 1.0 / max(n, 1), np.float32)
        if human_weights is None
        else np.asarray(human_weights, np.float32)
    )
    if teacher is None or teacher_weight <= 0 or not len(teacher.points):
        return human_points, human_weights
    if n == 0:
        return teacher.points, teacher.weights
    return (
        np.concatenate([human_points, teacher.points]),
        np.concatenate(
            [(1.0 - teacher_weight) * human_weights, teacher_weight * teacher.weights]
        ).astype(np.float32),
    )
