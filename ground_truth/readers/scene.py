"""Reader for the Scene saliency set (Liang et al. 2015, SUN2012 images).

Files (under the Scene root, e.g. ``../shared/data/scene``):

* ``data/tidy/fixations.mat``: variable ``fixations``, a 500 x 12 cell array
  (image x subject); each cell an ``N x 4`` array ``[y, x, onset_s,
  duration_s]`` in MATLAB pixel coordinates (1-based): ``x = col - 1``,
  ``y = row - 1``; times are converted to ms. Empty cells are observers who
  did not see the image (dropped and counted as ``observers_empty``).
* ``data/tidy/imgInfo.mat``: ``imgInfo.size``, ``[h, w]`` per image; checked
  against the displayed size of the image file (a mismatch drops the image and
  is reported).
* ``data/stimuli/001.jpg`` ... ``500.jpg``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ground_truth.readers.common import ReadResult, field, finish, load_mat, make_record
from ground_truth.records import RecordError

__all__ = ["read_scene_eye", "scene_root"]

DATASET = "scene"


def scene_root(data_dir) -> Path:
    """The Scene root given either it or the folder that holds ``scene/``.

    A folder that is neither (no ``scene/``, no ``data/``) gives ``data_dir/scene``, so that a
    missing dataset is reported by its folder (``.../scene/data/tidy/fixations.mat``).
    """
    data_dir = Path(data_dir)
    if (data_dir / "scene").is_dir() or not (data_dir / "data").is_dir():
        return data_dir / "scene"
    return data_dir


def read_scene_eye(data_dir) -> ReadResult:
    """Reads Scene's fixations (source ``"scene_eye"``), with real onsets.

    Returns:
      :class:`ReadResult`, one record per image; ``onset_ms`` and
      ``duration_ms`` per fixation.
    Raises:
      RecordError: missing/corrupt ``fixations.mat`` or ``imgInfo.mat``, or
        their shapes disagree.
    """
    root = scene_root(data_dir)
    path = root / "data" / "tidy" / "fixations.mat"
    info_path = root / "data" / "tidy" / "imgInfo.mat"
    cells = load_mat(path, "fixations")
    sizes = np.asarray(field(load_mat(info_path, "imgInfo"), "size", info_path))
    if cells.ndim != 2:
        raise RecordError(path, f"fixations is {cells.shape}, expected images x subjects")
    if sizes.shape != (cells.shape[0], 2):
        raise RecordError(info_path, f"size is {sizes.shape}, expected ({cells.shape[0]}, 2)")
    result = ReadResult(records=[])
    for i in range(cells.shape[0]):
        stem = f"{i + 1:03d}"
        image_path = root / "data" / "stimuli" / f"{stem}.jpg"
        hw = result.image_hw(image_path)
        if hw is None:
            continue
        if tuple(int(v) for v in sizes[i]) != hw:
            result.drop(
                "images_size_mismatch",
                f"{image_path}: imgInfo says {tuple(sizes[i])} (h, w), the displayed image is {hw}",
            )
            continue
        observers, onsets, durations, ids = [], [], [], []
        for s in range(cells.shape[1]):
            cell = np.asarray(cells[i, s], np.float64)
            if cell.size == 0:
                cell = np.zeros((0, 4))
            cell = np.atleast_2d(cell)
            if cell.shape[1] != 4:
                raise RecordError(path, f"cell ({i + 1}, {s + 1}) is {cell.shape}, expected N x 4")
            observers.append(np.stack([cell[:, 1] - 1.0, cell[:, 0] - 1.0], axis=1))
            onsets.append(cell[:, 2] * 1000.0)
            durations.append(cell[:, 3] * 1000.0)
            ids.append(s + 1)
        record = make_record(
            image_id=f"{DATASET}/{stem}",
            dataset=DATASET,
            source="scene_eye",
            modality="eye",
            image_path=image_path,
            original_hw=hw,
            observers=observers,
            onset_ms=onsets,
            duration_ms=durations,
            observer_ids=ids,
        )
        finish(result, record)
    return result
