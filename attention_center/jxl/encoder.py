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
  reads), and it misreads grey PNGs of 1, 2 or 4 bits a pixel (inverted or garbled
  pixels, no error): :func:`png_reason` says which files go through a temporary PNG,
  :func:`write_encoder_png` writes it. That PNG holds the image's own pixels, upright:
  alpha, the ICC profile and 16-bit grey are kept (the model's input, composited on
  white, is only for the centre).
* cjxl exits 1 with one line (``Unknown argument: --bogus``, ``Invalid flag value for
  --effort``) on a bad flag, whatever the image: :func:`check_encoder_flags` runs it once
  on a tiny generated image so that a bad flag is a usage error before any work.

Every cjxl runs as a child that dies with us (:mod:`attention_center.core.processes`).
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from typing import Optional

import numpy as np
from PIL import Image

from attention_center.core.atomic import atomic_path
from attention_center.core.images import DEFAULT_MAX_PIXELS, open_upright, rgb_pixels
from attention_center.core.orientation import displayed_to_stored, stored_hw
from attention_center.core.processes import ChildProcesses, StoppedError, run_child

__all__ = [
    "DIRECT_FORMATS",
    "EncoderError",
    "EncoderFlagsError",
    "EncoderInterrupted",
    "EncoderNotFoundError",
    "check_encoder_flags",
    "cjxl_command",
    "command_text",
    "encoder_center",
    "find_encoder",
    "png_reason",
    "run_encoder",
    "write_encoder_png",
]

#: Pillow format names whose files cjxl 0.7 reads itself (others go through a PNG).
DIRECT_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "PPM"})


#: Pillow modes a PNG stores as they are and cjxl 0.7 reads right (8 or 16 bits a sample).
_PNG_MODES = frozenset({"L", "LA", "RGB", "RGBA", "I;16", "I;16B"})
#: Of those, the grey ones (an ICC profile must then be a grey one).
_GREY_MODES = frozenset({"L", "LA", "I;16", "I;16B"})


def _png_bit_depth(path) -> int:
    """Bits a sample of a PNG file, from its IHDR chunk (the first, at a fixed offset)."""
    with open(path, "rb") as handle:
        header = handle.read(26)
    return header[24] if len(header) > 24 and header[12:16] == b"IHDR" else 8


def png_reason(path, still: bool = False) -> Optional[str]:
    """Why cjxl must be handed a PNG of the image instead of the file, or ``None`` when it
    reads the file right itself.

    The reason is a few words for messages: the format cjxl cannot read (``"WEBP"``), a
    ``"CMYK JPEG"``, a ``"4-bit PNG"`` (cjxl 0.7 misreads grey PNGs under 8 bits: inverted
    or garbled pixels, no error), or with ``still`` an ``"animated GIF"`` or PNG (cjxl
    would encode every frame; its first is wanted alone).

    Raises:
      OSError, PIL.UnidentifiedImageError: the file cannot be opened as an image.
    """
    with Image.open(path) as image:
        fmt, mode = image.format or "", image.mode
        if fmt not in DIRECT_FORMATS:
            return fmt or "an unknown format"
        if mode == "CMYK":
            return f"CMYK {fmt}"
        depth = _png_bit_depth(path) if fmt == "PNG" else 8
        if depth < 8:
            return f"{depth}-bit PNG"
        if still and fmt in ("GIF", "PNG") and getattr(image, "n_frames", 1) > 1:
            return f"animated {fmt}"
    return None


def _png_storable(image: Image.Image) -> Image.Image:
    """``image`` in a mode a PNG stores and cjxl reads right, losing nothing it can keep:
    alpha (a palette's transparency too), 16-bit grey; 1-bit grey becomes 8-bit."""
    if image.mode in _PNG_MODES:
        return image
    if image.mode == "1":
        return image.convert("L")
    if image.mode in ("I", "I;16L", "I;16N"):  # 16-bit grey (32-bit integers clipped)
        return Image.fromarray(np.clip(np.asarray(image), 0, 65535).astype(np.uint16))
    if image.mode == "F":  # floats: scaled to 8 bits as the model's input is
        return Image.fromarray(rgb_pixels(image))
    if image.mode == "La":
        return image.convert("LA")
    return image.convert("RGBA" if image.has_transparency_data else "RGB")


def _fitting_profile(icc: Optional[bytes], mode: str) -> Optional[bytes]:
    """``icc`` when it is a profile for ``mode``'s colours (grey or RGB), else ``None`` (e.g.
    a CMYK JPEG's profile once its pixels are RGB, or a profile littleCMS cannot read)."""
    if not icc:
        return None
    try:
        from PIL import ImageCms

        space = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space.strip()
    except (ImportError, OSError, ValueError, TypeError):
        return None
    return icc if space == ("GRAY" if mode in _GREY_MODES else "RGB") else None


def write_encoder_png(
    source, target, *, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS, compress_level: int = 1
) -> None:
    """Writes the PNG cjxl reads for ``source`` (see :func:`png_reason`) to ``target``.

    The image's own pixels, upright (its EXIF orientation applied, so cjxl's centre is in
    displayed pixels: orientation 1), first frame only
    (:func:`attention_center.core.images.open_upright`): alpha, the ICC profile (when it
    fits the pixels' colours) and 16-bit grey are kept; CMYK, YCbCr and other modes a PNG
    cannot hold become RGB, palettes RGB or RGBA, grey under 8 bits 8-bit.

    Raises:
      ImageLoadError: ``source`` cannot be read (e.g. it changed since it was decoded).
      OSError: ``target`` cannot be written.
    """
    image = open_upright(source, max_pixels=max_pixels)
    icc = image.info.get("icc_profile")
    image = _png_storable(image)
    extra = {}
    profile = _fitting_profile(icc, image.mode)
    if profile:
        extra["icc_profile"] = profile
    image.save(target, format="PNG", compress_level=compress_level, **extra)


class EncoderError(RuntimeError):
    """cjxl failed on one image (the message is the informative tail of its stderr)."""


class EncoderNotFoundError(FileNotFoundError):
    """The ``cjxl`` binary is not where we were told, nor on ``PATH``."""


class EncoderFlagsError(ValueError):
    """cjxl refuses the extra flags it was given (a usage error: no image would encode)."""


class EncoderInterrupted(EncoderError):
    """cjxl was stopped because the run was interrupted (not the image's fault)."""


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
        "(apt-get install libjxl-tools) or pass --encoder=/path/to/cjxl"
    )


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
    return (
        int(np.clip(np.floor(x + 0.5), 0, width - 1)),
        int(np.clip(np.floor(y + 0.5), 0, height - 1)),
    )


def _has_flag(flags: Sequence[str], name: str) -> bool:
    return any(f == name or f.startswith(name + "=") for f in flags)


def _path_argument(path) -> str:
    """A path as a command-line argument that no program takes for a flag (``-x.png``)."""
    text = os.fspath(path)
    return os.path.join(".", text) if text.startswith("-") else text


def cjxl_command(
    encoder: str,
    source,
    output,
    center=None,
    extra_flags: Sequence[str] = (),
    num_threads: Optional[int] = None,
) -> list[str]:
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
    command = [os.fspath(encoder), _path_argument(source), _path_argument(output)]
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
    lines = [
        line
        for line in lines
        if line and "color_hints" not in line and not line.startswith("Note: Implicit-default")
    ]
    tail = " | ".join(lines[-3:]) if lines else "no message"
    return f"cjxl failed (exit {returncode}): {tail}"


def command_text(command: Sequence[str]) -> str:
    """A command line as a shell would need it typed: each argument quoted as needed."""
    return shlex.join(os.fspath(part) for part in command)


def run_encoder(
    command: list[str], output: os.PathLike | str, children: Optional[ChildProcesses] = None
) -> int:
    """Runs a cjxl command that writes ``output``, atomically; returns the output's size.

    ``command[2]`` (the output) is replaced by a temporary beside ``output``
    (:func:`attention_center.core.atomic.atomic_path`), renamed over it only after cjxl
    succeeds. cjxl runs as a child that dies with us, one of ``children`` when given (so
    that an interruption can stop it: :meth:`ChildProcesses.stop`).

    Raises:
      EncoderInterrupted: ``children`` were stopped before or while cjxl ran.
      EncoderError: cjxl failed or wrote nothing (message from its stderr).
      OSError: the output folder cannot be written.
    """
    with atomic_path(output) as temporary:
        try:
            run = run_child([*command[:2], _path_argument(temporary), *command[3:]], children)
        except StoppedError as error:
            raise EncoderInterrupted(str(error)) from error
        if run.returncode != 0 and run.stopped:
            raise EncoderInterrupted("cjxl stopped: the run was interrupted")
        if run.returncode != 0:
            raise EncoderError(_stderr_reason(run.stderr, run.returncode))
        size = temporary.stat().st_size if temporary.exists() else 0
        if size == 0:
            raise EncoderError("cjxl wrote an empty file")
    return size


#: Flags whose values depend on the image, left out of :func:`check_encoder_flags`'s trial.
_PER_IMAGE_FLAGS = ("--center_x", "--center_y")


def _trial_flags(extra_flags: Sequence[str]) -> list[str]:
    """``extra_flags`` without the per-image ones (``--center_x 9``, ``--center_y=3``)."""
    kept, skip_value = [], False
    for flag in extra_flags:
        if skip_value:
            skip_value = False
            continue
        if flag in _PER_IMAGE_FLAGS:
            skip_value = True
            continue
        if any(flag.startswith(name + "=") for name in _PER_IMAGE_FLAGS):
            continue
        kept.append(flag)
    return kept


def check_encoder_flags(encoder: str, extra_flags: Sequence[str], timeout: float = 120.0) -> None:
    """Checks that cjxl accepts ``extra_flags``, by encoding a tiny image with them once.

    The trial image is a 64x64 RGB gradient PNG in a temporary folder, encoded with
    ``--group_order 1`` and a centre (as every real run) plus ``extra_flags`` (without
    ``--center_x``/``--center_y``, whose valid values depend on the image). No flags: no
    trial.

    Args:
      encoder: the cjxl binary (from :func:`find_encoder`).
      extra_flags: the flags given after ``--``.
      timeout: seconds the trial may take.
    Raises:
      EncoderFlagsError: cjxl fails with them; the message quotes cjxl's.
    """
    if not extra_flags:
        return
    ramp = np.linspace(0, 255, 64, dtype=np.float64)
    pixels = np.stack(
        np.broadcast_arrays(ramp[None, :], ramp[:, None], 255 - ramp[None, :]), -1
    ).astype(np.uint8)
    with tempfile.TemporaryDirectory(prefix="ac-cjxl-flags-") as folder:
        source = os.path.join(folder, "trial.png")
        Image.fromarray(pixels).save(source)
        command = cjxl_command(
            encoder, source, os.path.join(folder, "trial.jxl"), (32, 32), _trial_flags(extra_flags)
        )
        try:
            run = run_child(command, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EncoderFlagsError(
                f"cjxl did not finish a 64x64 trial image in {timeout:g} s "
                f"with the extra flags {command_text(extra_flags)}"
            ) from None
        if run.returncode != 0:
            reason = _stderr_reason(run.stderr, run.returncode)
            raise EncoderFlagsError(
                f"cjxl refuses the extra flags {command_text(extra_flags)}: {reason}"
            )
