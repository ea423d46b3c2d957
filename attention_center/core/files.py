"""Finding the images a command works on: under folders, or named one by one.

Shared by ``predict``, ``encode``, the Beam pipeline and the benchmarks, so they agree on
what an image is (:data:`IMAGE_SUFFIXES`) and on what they skip (hidden files and
folders, among them our own temporaries, see :mod:`attention_center.core.atomic`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from attention_center.core.errors import PathError

__all__ = [
    "IMAGE_SUFFIXES",
    "OutputFolderError",
    "check_output_folder",
    "file_identity",
    "find_images",
    "is_inside",
    "not_a_file_reason",
    "resolved",
]

#: File suffixes taken as images when walking a directory (``.jxl`` is not: it is our output).
IMAGE_SUFFIXES = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".apng",
        ".gif",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
        ".ppm",
        ".pgm",
        ".pnm",
        ".pbm",
        ".pam",
    }
)


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


def file_identity(path: os.PathLike | str):
    """What makes two paths one file: ``(st_dev, st_ino)`` when it exists (hard and symbolic
    links to one file compare equal), else its :func:`resolved` path. For refusing an output
    that is one of a command's inputs."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return resolved(path)
    return (info.st_dev, info.st_ino)


def not_a_file_reason(path: os.PathLike | str) -> Optional[str]:
    """Why ``path`` is not a regular file we can open, in words; ``None`` when it is one.

    ``"symbolic link loop"``, ``"broken symbolic link (its target does not exist)"``,
    ``"is a directory"``, ``"no such file"``, ``"not a regular file (a FIFO)"``
    (a FIFO, socket or device: reading it could block or never end) or the error of
    ``stat``. Only ``stat`` is called: a FIFO is never opened.
    """
    try:
        info = os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symbolic link loop"
        if os.path.islink(path):
            return "broken symbolic link (its target does not exist)"
        if error.errno == errno.ENOENT:
            return "no such file"
        return _strerror(error)
    if os.path.isdir(path):
        return "is a directory"
    import stat

    if stat.S_ISREG(info.st_mode):
        return None
    kinds = [
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ]
    kind = next((words for test, words in kinds if test(info.st_mode)), None)
    return "not a regular file" + (f" ({kind})" if kind else "")


def is_inside(path: os.PathLike | str, folder: os.PathLike | str) -> bool:
    """Whether ``path``, its symbolic links followed, lies in ``folder`` (or is it)."""
    inner, outer = resolved(path), resolved(folder)
    return inner == outer or outer in inner.parents


class OutputFolderError(PathError):
    """An output folder that cannot be used (a usage error: found before any work).

    Attributes:
      path: the folder.
      reason: one line saying what is wrong with it.
    """


def _strerror(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "symbolic link loop"
    return (error.strerror or str(error)).lower()


def check_output_folder(folder: os.PathLike | str, create: bool = True) -> Path:
    """Makes sure outputs can be written into ``folder``: created if missing, then probed.

    The probe creates and removes one file named like our temporaries
    (:func:`attention_center.core.atomic.temporary_name`), so a read-only file system, a
    folder without write permission (even for root: a real write is tried, not
    ``os.access``) or a full disk is found before any work.

    Args:
      folder: the output folder.
      create: create it (and its parents) when missing.
    Returns:
      ``folder`` as a :class:`Path`.
    Raises:
      OutputFolderError: it exists and is not a folder (a file, a broken or looping
        link), cannot be created, or cannot be written; the message names it.
    """
    from attention_center.core.atomic import temporary_name

    folder = Path(folder)
    if os.path.lexists(folder) and not folder.is_dir():
        try:
            folder.stat()
        except OSError as error:
            raise OutputFolderError(
                folder, f"not usable as the output folder: {_strerror(error)}"
            ) from None
        raise OutputFolderError(folder, "exists and is not a folder")
    if not folder.is_dir():
        if not create:
            raise OutputFolderError(folder, "no such folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputFolderError(folder, f"cannot create it: {_strerror(error)}") from None
    probe = temporary_name(folder / "write-probe")
    try:
        with open(probe, "xb"):
            pass
    except OSError as error:
        raise OutputFolderError(folder, f"cannot write into it: {_strerror(error)}") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return folder


def find_images(
    image_dir, recursive: bool = True, exclude: Sequence = (), errors: Optional[list] = None
) -> tuple[list[Path], list[Path]]:
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
        dirs[:] = (
            sorted(
                d for d in dirs if not d.startswith(".") and resolved(root_path / d) not in excluded
            )
            if recursive
            else []
        )
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = root_path / name
            (images if path.suffix.lower() in IMAGE_SUFFIXES else ignored).append(path)
    return sorted(images), sorted(ignored)
