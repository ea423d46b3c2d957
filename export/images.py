"""Real photos for calibration and parity: where they are and how they are prepared.

Frames are prepared exactly as at inference (:func:`attention_center.core.images.load_image`
then :func:`attention_center.core.images.resize_with_pad`: RGB in [0, 1], fitted
into the model frame with bicubic antialiased resizing and zero padding), so
the int8 ranges calibrated on them are the ranges the model sees in use.

Defaults, from the shared data folder (``../shared/data`` beside the repo or
``$ATTENTION_CENTER_SHARED/data``) when it is there:

* calibration (``--representative_data``): the 24 Kodak photos, then equal shares of
  the *train* split (``attention_center.core.splits.split_of``) of every kind of image
  there (:data:`CALIBRATION_FOLDERS`: OSIE and Scene photos, FiWI web pages, MASSVIS
  charts, GDI designs, SALICON photos), evenly spaced, up to the requested count (100):
  calibrated on photos only, the int8 model moved the centre of charts and pages 2-4x
  further than that of photos (docs/export.md);
* parity: OSIE stimuli of the *val* and *test* splits, evenly spaced (50), so
  that no parity image was used for calibration.

Without it (an installed package, Colab), the photos shipped in
``export/photos/`` (:data:`PACKAGED_PHOTOS`): 8 OSIE train-split stimuli for
calibration and 6 val/test-split ones for parity, 512x384 JPEGs (MIT licence
beside them). Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from attention_center.core.files import IMAGE_SUFFIXES, find_images
from attention_center.core.frames import MODEL_FRAME_HW
from attention_center.core.images import ImageLoadError, load_image, resize_with_pad
from attention_center.core.splits import split_of
from export.errors import ExportError

_REPO = Path(__file__).resolve().parents[1]
#: Real photos shipped with the package: ``calibration/`` and ``parity/`` (OSIE, MIT).
PACKAGED_PHOTOS = Path(__file__).resolve().parent / "photos"


def shared_data_dir() -> Path:
    """``$ATTENTION_CENTER_SHARED/data``, else ``<repo>/../shared/data`` (may not exist)."""
    shared = os.environ.get("ATTENTION_CENTER_SHARED")
    return (Path(shared) if shared else _REPO.parent / "shared") / "data"


def list_images(directory: os.PathLike | str) -> list[Path]:
    """Image files directly inside ``directory``, sorted by name.

    Raises:
      ExportError: the folder is missing, not a folder, unreadable, or holds no
        image files.
    """
    directory = Path(directory)
    if not directory.exists():
        raise ExportError(f"{directory}: image folder not found")
    if not directory.is_dir():
        raise ExportError(f"{directory}: not a folder")
    try:
        os.listdir(directory)
    except OSError as error:
        raise ExportError(f"{directory}: cannot list folder: {error.strerror or error}") from error
    paths, _ = find_images(directory, recursive=False)
    if not paths:
        raise ExportError(f"{directory}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths


def _evenly_spaced(paths: Sequence[Path], count: int) -> list[Path]:
    if count >= len(paths):
        return list(paths)
    picks = np.linspace(0, len(paths) - 1, count).round().astype(int)
    return [paths[i] for i in picks]


#: Calibration folders under the shared data folder: dataset name (for the split) -> folder.
CALIBRATION_FOLDERS = {
    "osie": "osie/data/stimuli",
    "scene": "scene/data/stimuli",
    "fiwi": "bubbleview/targets_fiwi",
    "massvis": "bubbleview/targets_massvis",
    "gdi": "bubbleview/targets_gdi",
    "salicon": "bubbleview/targets_salicon",
}


def _train_images(data_dir: Path, dataset: str, folder: str) -> list[Path]:
    folder = data_dir / folder
    if not folder.is_dir():
        return []
    return [p for p in list_images(folder) if split_of(f"{dataset}/{p.stem}") == "train"]


def _osie_stimuli(data_dir: Path, splits: Iterable[str]) -> list[Path]:
    folder = data_dir / "osie" / "data" / "stimuli"
    if not folder.is_dir():
        return []
    splits = set(splits)
    return [p for p in list_images(folder) if split_of(f"osie/{p.stem}") in splits]


def default_representative_paths(count: int = 100, data_dir=None) -> list[Path]:
    """Real images for int8 calibration: Kodak, then the train split of every kind.

    Falls back on the calibration photos shipped in ``export/photos/calibration``
    when there is no shared data folder.

    Raises:
      ExportError: no photos at all (pass ``--representative_data``).
    """
    data_dir = Path(data_dir) if data_dir else shared_data_dir()
    kodak = data_dir / "kodak"
    paths = list_images(kodak)[:count] if kodak.is_dir() else []
    kinds = [
        found
        for found in (_train_images(data_dir, d, f) for d, f in CALIBRATION_FOLDERS.items())
        if found
    ]
    room = count - len(paths)
    for i, found in enumerate(kinds):
        paths += _evenly_spaced(found, room // len(kinds) + (i < room % len(kinds)))
    if not paths:
        paths = _packaged("calibration", count)
    if not paths:
        raise ExportError(
            f"{data_dir}: no default calibration photos (kodak/, osie/data/stimuli/) "
            f"and none in {PACKAGED_PHOTOS / 'calibration'}; "
            "pass --representative_data DIR"
        )
    return paths


def default_parity_paths(count: int = 50, data_dir=None) -> list[Path]:
    """Real photos for the parity check: OSIE val- and test-split stimuli (never calibrated on).

    Falls back on the parity photos shipped in ``export/photos/parity``, then on
    the Kodak photos.

    Raises:
      ExportError: no photos at all (pass ``--parity_data``).
    """
    data_dir = Path(data_dir) if data_dir else shared_data_dir()
    paths = _evenly_spaced(_osie_stimuli(data_dir, ["val", "test"]), count)
    if not paths:
        paths = _packaged("parity", count)
    if not paths and (data_dir / "kodak").is_dir():
        paths = list_images(data_dir / "kodak")[:count]
    if not paths:
        raise ExportError(
            f"{data_dir}: no default parity photos (osie/data/stimuli/, kodak/) "
            f"and none in {PACKAGED_PHOTOS / 'parity'}; pass --parity_data DIR"
        )
    return paths


def _packaged(kind: str, count: int) -> list[Path]:
    folder = PACKAGED_PHOTOS / kind
    return _evenly_spaced(list_images(folder), count) if folder.is_dir() else []


def paths_from(directory, count: int) -> list[Path]:
    """Up to ``count`` images of a folder, evenly spaced over its sorted listing."""
    return _evenly_spaced(list_images(directory), count)


def iter_frames(
    paths: Iterable[os.PathLike | str], frame_hw=MODEL_FRAME_HW, errors: list | None = None
) -> Iterator[tuple[Path, np.ndarray]]:
    """Yields ``(path, frame)`` for each readable image.

    Args:
      paths: image files.
      frame_hw: ``(H, W)`` of the model frame.
      errors: if given, unreadable files are appended to it as
        :class:`~attention_center.core.images.ImageLoadError` and skipped; if
        ``None`` the first one is raised as :class:`ExportError`.
    Yields:
      ``(path, float32 [H, W, 3])``, RGB in [0, 1], resize-with-pad framed.
    """
    for path in paths:
        try:
            image = load_image(path)
        except ImageLoadError as error:
            if errors is None:
                raise ExportError(str(error)) from error
            errors.append(error)
            continue
        frame, _ = resize_with_pad(image, frame_hw)
        yield Path(path), frame


def load_frames(
    paths, frame_hw=MODEL_FRAME_HW, errors: list | None = None
) -> tuple[list[Path], np.ndarray]:
    """All readable frames at once: ``(paths, float32 [N, H, W, 3])``; see :func:`iter_frames`."""
    pairs = list(iter_frames(paths, frame_hw, errors))
    if not pairs:
        return [], np.zeros((0, *frame_hw, 3), np.float32)
    return [p for p, _ in pairs], np.stack([f for _, f in pairs])
