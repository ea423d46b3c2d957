"""The JPEG XL encoder: finding ``cjxl``, its command line, running it atomically.

Facts about ``cjxl`` 0.7 (Debian's ``libjxl-tools``) this module relies on, each checked
by ``tests/jxl/encode_test.py``:

* ``--center_x/--center_y`` are integers in ``[0, xsize - 1] x [0, ysize - 1]`` of the
  **stored** image; a centre at or past the edge makes cjxl fail
  (``cparams.center_x < ib.xsize()``). :func:`encoder_center` rounds and clamps.
* The stored image is the image **as in the file**, before its EXIF orientation: cjxl
  keeps the orientation as a header field and djxl (or a browser) shows the upright
  image (libjxl issue 1846), for JPEG lossless transcoding, re-encoded JPEG pixels
  (``--lossless_jpeg=0``) and PNG with an eXIf chunk alike. Our centres are in
  displayed (upright) coordinates, so :func:`encoder_center` maps them with
  :func:`attention_center.core.orientation.displayed_to_stored`. (Google's
  ``encode_with_centers.py`` passes upright coordinates: wrong for orientations 2-8,
  and for 5-8 often past the stored width, which makes cjxl fail.)
* ``--group_order 1`` works with the lossless JPEG transcoding that cjxl uses by
  default for JPEG input: no ``--lossless_jpeg=0`` needed.
* cjxl cannot read CMYK JPEGs, WebP, TIFF or BMP (:data:`DIRECT_FORMATS` lists what it
  reads): those go through a temporary PNG of the decoded, upright RGB pixels.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Optional, Sequence

import numpy as np

from attention_center.core.atomic import atomic_path
from attention_center.core.orientation import displayed_to_stored, stored_hw

__all__ = [
    "DIRECT_FORMATS",
    "EncoderError",
    "EncoderNotFoundError",
    "cjxl_command",
    "encoder_center",
    "find_encoder",
    "run_encoder",
]

#: Pillow format names whose files cjxl 0.7 reads itself (others go through a PNG).
DIRECT_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "PPM"})


class EncoderError(RuntimeError):
    """cjxl failed on one image (the message is the informative tail of its stderr)."""


class EncoderNotFoundError(FileNotFoundError):
    """The ``cjxl`` binary is not where we were told, nor on ``PATH``."""


def find_encoder(encoder: str = "cjxl") -> str:
    """The encoder binary to run.

    Args:
      encoder: a name looked up on ``PATH`` (``"cjxl"``), or a path to a binary
        (Google's default ``./libjxl/build/tools/cjxl``); a missing path falls
        back to ``cjxl`` on ``PATH``.
    Returns:
      an absolute path.
    Raises:
      EncoderNotFoundError: with a hint to install ``libjxl-tools``.
    """
    candidates = [encoder]
    if os.sep in encoder or (os.altsep and os.altsep in encoder):
        if os.path.isfile(encoder) and os.access(encoder, os.X_OK):
            return os.path.abspath(encoder)
        candidates.append(os.path.basename(encoder))
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    raise EncoderNotFoundError(
        f"JPEG XL encoder {encoder!r} not found: install libjxl-tools "
        "(apt-get install libjxl-tools) or pass --encoder=/path/to/cjxl")


def encoder_center(center, displayed: tuple, orientation: int = 1) -> tuple[int, int]:
    """The ``(--center_x, --center_y)`` values cjxl needs for a displayed-image centre.

    Maps the point to the stored image
    (:func:`attention_center.core.orientation.displayed_to_stored`), rounds it to the
    nearest pixel and clamps it to ``[0, w - 1] x [0, h - 1]`` of the stored image (cjxl
    refuses a centre at or past the edge).

    Args:
      center: (x, y), 0-based pixel centres of the displayed image (float).
      displayed: ``(h, w)`` of the displayed image.
      orientation: EXIF orientation of the file cjxl reads (1 for a file
        written upright, e.g. our temporary PNGs).
    Returns:
      ``(x, y)`` integers for cjxl.
    """
    x, y = displayed_to_stored(float(center[0]), float(center[1]), displayed, orientation)
    height, width = stored_hw(displayed, orientation)
    return (int(np.clip(np.floor(x + 0.5), 0, width - 1)),
            int(np.clip(np.floor(y + 0.5), 0, height - 1)))


def _has_flag(flags: Sequence[str], name: str) -> bool:
    return any(f == name or f.startswith(name + "=") for f in flags)


def cjxl_command(encoder: str, source, output, center=None, extra_flags: Sequence[str] = (),
                 num_threads: Optional[int] = None) -> list[str]:
    """The cjxl command line.

    Args:
      encoder: the cjxl binary.
      source, output: input image and output ``.jxl`` file.
      center: ``(x, y)`` integers in the stored image (see :func:`encoder_center`)
        -> ``--group_order 1 --center_x X --center_y Y``; ``"middle"`` ->
        ``--group_order 1`` (cjxl's own middle); ``None`` -> the default group
        order. Flags the caller already put in ``extra_flags`` win.
      extra_flags: more cjxl flags (what follows ``--`` on our command line).
      num_threads: ``--num_threads N`` unless ``extra_flags`` set it.
    """
    command = [os.fspath(encoder), os.fspath(source), os.fspath(output)]
    if center is not None:
        values = {"--group_order": "1"}
        if not isinstance(center, str):
            values["--center_x"], values["--center_y"] = str(int(center[0])), str(int(center[1]))
        elif center != "middle":
            raise ValueError(f"center must be (x, y), 'middle' or None, got {center!r}")
        for flag, value in values.items():
            if not _has_flag(extra_flags, flag):
                command += [flag, value]
    if num_threads is not None and not _has_flag(extra_flags, "--num_threads"):
        command += ["--num_threads", str(int(num_threads))]
    return command + list(extra_flags)


def _stderr_reason(stderr: bytes, returncode: int) -> str:
    """The informative tail of cjxl's stderr, on one line."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line and "color_hints" not in line
             and not line.startswith("Note: Implicit-default")]
    tail = " | ".join(lines[-3:]) if lines else "no message"
    return f"cjxl failed (exit {returncode}): {tail}"


def run_encoder(command: list[str], output: os.PathLike | str) -> int:
    """Runs a cjxl command that writes ``output``, atomically; returns the output's size.

    ``command[2]`` (the output) is replaced by a temporary beside ``output``
    (:func:`attention_center.core.atomic.atomic_path`), renamed over it only after cjxl
    succeeds.

    Raises:
      EncoderError: cjxl failed or wrote nothing (message from its stderr).
      OSError: the output folder cannot be written.
    """
    with atomic_path(output) as temporary:
        run = subprocess.run([*command[:2], os.fspath(temporary), *command[3:]],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        if run.returncode != 0:
            raise EncoderError(_stderr_reason(run.stderr, run.returncode))
        size = temporary.stat().st_size if temporary.exists() else 0
        if size == 0:
            raise EncoderError("cjxl wrote an empty file")
    return size
