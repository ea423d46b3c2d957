"""Readers for OSIE (Xu et al., JoV 2014): eye tracking and two mouse studies.

Files (under the OSIE root, e.g. ``../shared/data/osie``):

* ``data/eye/fixations.mat``: variable ``fixations``, one struct per image with
  ``img`` (file name) and ``subjects`` (structs with ``fix_x``, ``fix_y``,
  ``fix_duration`` in ms, in viewing order). MATLAB pixel coordinates,
  1-based, x first: ``x = fix_x - 1, y = fix_y - 1``. The first fixation is
  the pre-stimulus one (the temporal filter drops it). No onsets: durations only.
* ``data/mouse_lab/NNNN.mat``, ``data/mouse_amt/NNNN.mat``: variable
  ``fixations`` with ``subj`` (observer id per sample), ``coord`` as
  ``[row, col]`` 1-based (``x = col - 1, y = row - 1``) and ``order`` (1, 2, ...
  per observer, ``uint8``). Samples of one observer are contiguous; in the AMT
  set a worker id can occur in two separate runs, each restarting ``order`` at 1:
  each run is a separate observer (its first sample is again the cursor's
  start position).
* ``data/stimuli/NNNN.jpg``: 800x600 images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ground_truth.readers.common import (
    ReadResult,
    displayed_hw,
    field,
    finish,
    load_mat,
    make_record,
)
from ground_truth.records import RecordError

__all__ = ["read_osie_eye", "read_osie_mouse", "read_osie_mouse_file", "osie_root"]

DATASET = "osie"


def osie_root(data_dir) -> Path:
    """The OSIE root given either it or the folder that holds ``osie/``.

    A folder that is neither (no ``osie/``, no ``data/``) gives ``data_dir/osie``, so that a
    missing dataset is reported by its folder (``.../osie/data/eye/fixations.mat``).
    """
    data_dir = Path(data_dir)
    if (data_dir / "osie").is_dir() or not (data_dir / "data").is_dir():
        return data_dir / "osie"
    return data_dir


def _image(root: Path, name: str, result: ReadResult, cache: dict):
    """``(path, hw)`` of a stimulus or ``None`` (counted) if it cannot be used."""
    if name in cache:
        return cache[name]
    path = root / "data" / "stimuli" / name
    try:
        value = (path, displayed_hw(path))
    except RecordError as error:
        result.drops["images_missing"] += 1
        result.errors.append(str(error))
        value = None
    cache[name] = value
    return value


def read_osie_eye(data_dir) -> ReadResult:
    """Reads OSIE's eye-tracking fixations (source ``"osie_eye"``).

    Returns:
      :class:`ReadResult` with one record per image; points ``(x, y)`` 0-based,
      ``duration_ms`` per fixation, no onsets.
    Raises:
      RecordError: the file is missing or corrupt or has no ``fixations``.
    """
    root = osie_root(data_dir)
    path = root / "data" / "eye" / "fixations.mat"
    fixations = np.atleast_1d(load_mat(path, "fixations"))
    result = ReadResult(records=[])
    cache: dict = {}
    for entry in fixations:
        name = str(field(entry, "img", path))
        image = _image(root, name, result, cache)
        if image is None:
            continue
        observers, durations, ids = [], [], []
        for s, subject in enumerate(np.atleast_1d(field(entry, "subjects", path))):
            x = np.atleast_1d(np.asarray(field(subject, "fix_x", path), np.float64))
            y = np.atleast_1d(np.asarray(field(subject, "fix_y", path), np.float64))
            d = np.atleast_1d(np.asarray(field(subject, "fix_duration", path), np.float64))
            if not (len(x) == len(y) == len(d)):
                raise RecordError(
                    path,
                    f"{name} subject {s + 1}: fix_x, fix_y, fix_duration "
                    f"lengths differ ({len(x)}, {len(y)}, {len(d)})",
                )
            observers.append(np.stack([x - 1.0, y - 1.0], axis=1))
            durations.append(d)
            ids.append(s + 1)
        record = make_record(
            image_id=f"{DATASET}/{Path(name).stem}",
            dataset=DATASET,
            source="osie_eye",
            modality="eye",
            image_path=image[0],
            original_hw=image[1],
            observers=observers,
            duration_ms=durations,
            observer_ids=ids,
        )
        finish(result, record)
    return result


def _split_runs(subj: np.ndarray, order: np.ndarray) -> list[np.ndarray]:
    """Index arrays of each observer run: ``subj`` changes or ``order`` restarts at 1."""
    n = len(subj)
    if n == 0:
        return []
    starts = np.flatnonzero(
        np.r_[True, (subj[1:] != subj[:-1]) | ((order[1:] == 1) & (order[:-1] != 0))]
    )
    ends = np.r_[starts[1:], n]
    return [np.arange(a, b) for a, b in zip(starts, ends)]


def read_osie_mouse_file(path, root: Path, source: str, result: ReadResult, cache: dict):
    """One ``mouse_lab``/``mouse_amt`` file -> a record added to ``result``.

    Args:
      path: the ``.mat`` file.
      root: the OSIE root (for ``data/stimuli``).
      source: ``"osie_mouse_lab"`` or ``"osie_mouse_amt"``.
      result: :class:`ReadResult` to add the record, drops and errors to.
      cache: image sizes by file name (shared across calls).
    Raises:
      RecordError: unreadable file, missing variable/field, inconsistent arrays.
    """
    path = Path(path)
    fx = load_mat(path, "fixations")
    subj = np.atleast_1d(np.asarray(field(fx, "subj", path))).astype(np.int64)
    coord = np.asarray(field(fx, "coord", path), np.float64)
    order = np.atleast_1d(np.asarray(field(fx, "order", path))).astype(np.int64)
    if coord.size == 2 and coord.ndim == 1:
        coord = coord.reshape(1, 2)
    if coord.ndim != 2 or coord.shape[1] != 2 or not (len(coord) == len(subj) == len(order)):
        raise RecordError(
            path,
            f"coord {coord.shape}, subj {subj.shape}, order {order.shape}: "
            "expected coord [n, 2] and n observer ids / orders",
        )
    name = f"{path.stem}.jpg"
    image = _image(root, name, result, cache)
    if image is None:
        return
    observers, ids = [], []
    for run in _split_runs(subj, order):
        # [row, col] 1-based -> (x, y) 0-based.
        observers.append(np.stack([coord[run, 1] - 1.0, coord[run, 0] - 1.0], axis=1))
        ids.append(int(subj[run[0]]))
    record = make_record(
        image_id=f"{DATASET}/{path.stem}",
        dataset=DATASET,
        source=source,
        modality="mouse",
        image_path=image[0],
        original_hw=image[1],
        observers=observers,
        observer_ids=ids,
    )
    finish(result, record)


def read_osie_mouse(data_dir, study: str = "lab") -> ReadResult:
    """Reads OSIE's mouse-tracking samples (``study`` ``"lab"`` or ``"amt"``).

    Source ``"osie_mouse_lab"`` / ``"osie_mouse_amt"``; one record per file.
    A missing or corrupt file is reported in ``errors`` (counted as
    ``files_unreadable``) and the others are still read.
    """
    if study not in ("lab", "amt"):
        raise ValueError(f"study must be 'lab' or 'amt', not {study!r}")
    root = osie_root(data_dir)
    folder = root / "data" / f"mouse_{study}"
    files = sorted(folder.glob("*.mat"))
    if not files:
        raise RecordError(folder, "no .mat files")
    result = ReadResult(records=[])
    cache: dict = {}
    for path in files:
        try:
            read_osie_mouse_file(path, root, f"osie_mouse_{study}", result, cache)
        except RecordError as error:
            result.drops["files_unreadable"] += 1
            result.errors.append(str(error))
    return result
