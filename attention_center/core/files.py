"""Finding the images a command works on: under folders, or named one by one.

Shared by ``predict``, ``encode``, the Beam pipeline and the benchmarks, so they agree on
what an image is (:data:`IMAGE_SUFFIXES`) and on what they skip (hidden files and
folders, among them our own temporaries, see :mod:`attention_center.core.atomic`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["IMAGE_SUFFIXES", "find_images", "resolved"]

#: File suffixes taken as images when walking a directory (``.jxl`` is not: it is our output).
IMAGE_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".webp", ".tif", ".tiff",
    ".bmp", ".ppm", ".pgm", ".pnm", ".pbm", ".pam"})


def resolved(path: os.PathLike | str) -> Path:
    """``Path(path).resolve()``, or the absolute path when it cannot be resolved.

    ``resolve()`` raises on a symbolic link loop (``RuntimeError`` before Python 3.13,
    ``OSError`` after) and on some unreadable parents; a loop must be reported for that one
    file by whoever reads it, never crash a whole command before any image is processed.
    """
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):
        return Path(os.path.abspath(path))


def find_images(image_dir, recursive: bool = True, exclude: Sequence = (),
                errors: Optional[list] = None) -> tuple[list[Path], list[Path]]:
    """Image files under a directory, sorted.

    Hidden files and folders (``.name``, e.g. our temporaries) are skipped, and so is
    anything under ``exclude`` (the output folder when it lies inside). Symbolic links to
    folders are not followed (no loops); a link to a file is listed like a file (a broken or
    looping one then fails alone when it is read).

    Args:
      image_dir: the folder.
      recursive: walk sub-folders.
      exclude: folders to leave out.
      errors: if given, one line is appended per folder that could not be listed
        (``"<folder>: permission denied"``); otherwise such folders are skipped silently.
    Returns:
      ``(images, ignored)``: files with an image suffix (:data:`IMAGE_SUFFIXES`)
      and the other files.
    """
    image_dir = Path(image_dir)
    excluded = {resolved(e) for e in exclude}
    images, ignored = [], []

    def report(error: OSError):
        if errors is not None:
            errors.append(f"{error.filename}: cannot list folder: {error.strerror or error}")

    for root, dirs, files in os.walk(image_dir, onerror=report):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and resolved(root_path / d) not in excluded) if recursive else []
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = root_path / name
            (images if path.suffix.lower() in IMAGE_SUFFIXES else ignored).append(path)
    return sorted(images), sorted(ignored)
