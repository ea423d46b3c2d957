"""Finding the images a command works on: under folders, or named one by one.

Shared by ``predict``, ``encode``, the Beam pipeline and the benchmarks, so they agree on
what an image is (:data:`IMAGE_SUFFIXES`) and on what they skip (hidden files and
folders, among them our own temporaries, see :mod:`attention_center.core.atomic`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

__all__ = ["IMAGE_SUFFIXES", "find_images"]

#: File suffixes taken as images when walking a directory (``.jxl`` is not: it is our output).
IMAGE_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".webp", ".tif", ".tiff",
    ".bmp", ".ppm", ".pgm", ".pnm", ".pbm", ".pam"})


def find_images(image_dir, recursive: bool = True, exclude: Sequence = ()
                ) -> tuple[list[Path], list[Path]]:
    """Image files under a directory, sorted.

    Hidden files and folders (``.name``, e.g. our temp files) are skipped, and
    so is anything under ``exclude`` (the output folder when it lies inside).

    Returns:
      ``(images, ignored)``: files with an image suffix (:data:`IMAGE_SUFFIXES`)
      and the other files.
    """
    image_dir = Path(image_dir)
    excluded = {Path(e).resolve() for e in exclude}
    images, ignored = [], []
    for root, dirs, files in os.walk(image_dir):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (root_path / d).resolve() not in excluded) if recursive else []
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = root_path / name
            (images if path.suffix.lower() in IMAGE_SUFFIXES else ignored).append(path)
    return sorted(images), sorted(ignored)


