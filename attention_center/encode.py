"""Progressive JPEG XL, centre first: ``cjxl`` driven by predicted attention centres.

What it does for each image of a directory tree: predict the centre (batched,
in the parent process), then run ``cjxl INPUT OUTPUT --group_order 1
--center_x X --center_y Y [extra flags]`` (several at once, in threads that
wait on the subprocesses), writing ``OUTPUT`` atomically.

Facts about ``cjxl`` 0.7 (Debian's ``libjxl-tools``) this module relies on,
each checked by ``tests/encode_test.py``:

* ``--center_x/--center_y`` are integers in ``[0, xsize - 1] x [0, ysize - 1]``
  of the **coded** image; a centre at or past the edge makes cjxl fail
  (``cparams.center_x < ib.xsize()``). We round and clamp.
* The coded image is the image **as stored in the file**, before its EXIF
  orientation: cjxl keeps the orientation as a header field and djxl (or a
  browser) shows the upright image. libjxl issue 1846 asks what the centre
  refers to; it is the stored orientation, for JPEG lossless transcoding,
  re-encoded JPEG pixels (``--lossless_jpeg=0``) and PNG with an eXIf chunk
  alike (checked by decoding prefixes). Our centres are in displayed (upright)
  coordinates (:func:`attention_center.image.load_image` applies EXIF), so
  :func:`displayed_to_coded` maps them back. (Google's
  ``encode_with_centers.py`` passes upright coordinates: wrong for orientations
  2-8, and for 5-8 often past the stored width, which makes cjxl fail.)
* ``--group_order 1`` works with the lossless JPEG transcoding that cjxl uses
  by default for JPEG input: no ``--lossless_jpeg=0`` needed.
* cjxl cannot read CMYK JPEGs, WebP, TIFF or BMP: those go through a
  temporary PNG of the decoded, upright RGB pixels (colour profile not kept).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image

from attention_center.image import ImageLoadError

__all__ = [
    "DIRECT_FORMATS",
    "EncodeResult",
    "EncodeSummary",
    "EncoderNotFoundError",
    "IMAGE_SUFFIXES",
    "cjxl_command",
    "displayed_to_coded",
    "encode_directory",
    "encoder_center",
    "exif_orientation",
    "find_encoder",
    "find_images",
    "output_path_for",
]

#: File suffixes taken as images when walking a directory (``.jxl`` is not: it is our output).
IMAGE_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".webp", ".tif", ".tiff",
    ".bmp", ".ppm", ".pgm", ".pnm", ".pbm", ".pam"})

#: Pillow format names whose files cjxl 0.7 reads itself (others go through a PNG).
DIRECT_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "PPM"})

_EXIF_ORIENTATION = 0x0112
_CENTER_FLAGS = ("--group_order", "--center_x", "--center_y")


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


def exif_orientation(path) -> int:
    """The EXIF orientation (1-8) Pillow applies to this file; 1 when it has none.

    The same tag :func:`PIL.ImageOps.exif_transpose` (hence
    :func:`attention_center.image.load_image`) reads, so the result describes
    exactly how our upright pixels relate to the stored ones.
    """
    with Image.open(path) as image:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    try:
        value = int(value)
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def displayed_to_coded(x, y, displayed_hw, orientation: int):
    """Maps a point of the upright (displayed) image to the image as stored.

    ``cjxl`` encodes the stored pixels and keeps the EXIF orientation as a
    header field, and its ``--center_x/--center_y`` address the stored pixels
    (libjxl issue 1846; checked in ``tests/encode_test.py`` by decoding
    prefixes). This is the inverse of the transpose ``ImageOps.exif_transpose``
    applies for each orientation:

    ======  ==============================  ========================
    value   stored -> displayed (Pillow)    displayed (x, y) -> stored
    ======  ==============================  ========================
    1       identity                        (x, y)
    2       FLIP_LEFT_RIGHT                 (W-1-x, y)
    3       ROTATE_180                      (W-1-x, H-1-y)
    4       FLIP_TOP_BOTTOM                 (x, H-1-y)
    5       TRANSPOSE                       (y, x)
    6       ROTATE_270 (90 deg clockwise)   (y, W-1-x)
    7       TRANSVERSE                      (H-1-y, W-1-x)
    8       ROTATE_90 (90 deg anticlockw.)  (H-1-y, x)
    ======  ==============================  ========================

    where ``(H, W)`` is the displayed size.

    Args:
      x, y: 0-based pixel-centre coordinates in the displayed image (floats or arrays).
      displayed_hw: ``(H, W)`` of the displayed image.
      orientation: the EXIF orientation, 1-8 (anything else: 1).
    Returns:
      ``(x, y)`` in the stored image, whose size is ``(H, W)`` for 1-4 and
      ``(W, H)`` for 5-8.
    """
    height, width = displayed_hw
    right, bottom = width - 1 - x, height - 1 - y
    return {2: (right, y), 3: (right, bottom), 4: (x, bottom), 5: (y, x),
            6: (y, right), 7: (bottom, right), 8: (bottom, x)}.get(orientation, (x, y))


def encoder_center(center, displayed_hw, orientation: int = 1) -> tuple[int, int]:
    """The ``(--center_x, --center_y)`` values cjxl needs for a displayed-image centre.

    Maps the point to the stored orientation (:func:`displayed_to_coded`),
    rounds it to the nearest pixel and clamps it to ``[0, w - 1] x [0, h - 1]``
    of the stored image (cjxl refuses a centre at or past the edge).

    Args:
      center: (x, y), 0-based pixel centres of the displayed image (float).
      displayed_hw: ``(h, w)`` of the displayed image.
      orientation: EXIF orientation of the file cjxl reads (1 for a file
        written upright, e.g. our temporary PNGs).
    Returns:
      ``(x, y)`` integers for cjxl.
    """
    x, y = displayed_to_coded(float(center[0]), float(center[1]), displayed_hw, orientation)
    coded_h, coded_w = displayed_hw if orientation < 5 else displayed_hw[::-1]
    return (int(np.clip(np.floor(x + 0.5), 0, coded_w - 1)),
            int(np.clip(np.floor(y + 0.5), 0, coded_h - 1)))


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


def output_path_for(source, image_dir, output_dir, new_suffix: str = "jxl") -> Path:
    """``output_dir/<relative folder>/<file name>.<new_suffix>``.

    Google's naming: ``a.jpg`` -> ``a.jpg.jxl``; the input tree is mirrored.
    """
    source = Path(source)
    relative = source.relative_to(image_dir) if image_dir is not None else Path(source.name)
    return Path(output_dir) / relative.parent / f"{source.name}.{new_suffix.lstrip('.')}"


@dataclasses.dataclass
class EncodeResult:
    """What happened to one input file.

    Attributes:
      source: the input image.
      output: the output file (planned, for dry runs and failures).
      status: ``"encoded"``, ``"skipped"`` (output exists, ``--skip_existing``),
        ``"dry_run"`` or ``"failed"``.
      error: one line for ``"failed"``.
      center: the ``(x, y)`` passed to cjxl (stored orientation), if any.
      display_center: the predicted ``(x, y)`` in displayed pixels, if any.
      bytes_in, bytes_out: file sizes (``bytes_out`` 0 unless encoded).
      command: the cjxl command line.
    """

    source: Path
    output: Path
    status: str
    error: Optional[str] = None
    center: Optional[tuple[int, int]] = None
    display_center: Optional[tuple[float, float]] = None
    bytes_in: int = 0
    bytes_out: int = 0
    command: Optional[list[str]] = None


@dataclasses.dataclass
class EncodeSummary:
    """All results of a run (input order) and the files that were not images."""

    results: list[EncodeResult]
    ignored: list[Path] = dataclasses.field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[EncodeResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def bytes_in(self) -> int:
        return sum(r.bytes_in for r in self.results if r.status == "encoded")

    @property
    def bytes_out(self) -> int:
        return sum(r.bytes_out for r in self.results if r.status == "encoded")

    def format(self) -> str:
        """A human summary: counts, bytes in and out, then each failure on its own line."""
        parts = [f"{self.count('encoded')} encoded"]
        for status, label in (("skipped", "skipped (output exists)"), ("dry_run", "dry run"),
                              ("failed", "failed")):
            if self.count(status):
                parts.append(f"{self.count(status)} {label}")
        lines = [f"{len(self.results)} images: " + ", ".join(parts)
                 + (f"; {len(self.ignored)} other files ignored" if self.ignored else "")]
        if self.count("encoded"):
            ratio = self.bytes_out / self.bytes_in if self.bytes_in else float("nan")
            lines.append(f"bytes: {self.bytes_in:,} in -> {self.bytes_out:,} out ({ratio:.1%})")
        if self.failed:
            lines.append("failed:")
            lines += [f"  {r.source}: {r.error}" for r in self.failed]
        return "\n".join(lines)


def _stderr_reason(stderr: bytes, returncode: int) -> str:
    """The informative tail of cjxl's stderr, on one line."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line and "color_hints" not in line
             and not line.startswith("Note: Implicit-default")]
    tail = " | ".join(lines[-3:]) if lines else "no message"
    return f"cjxl failed (exit {returncode}): {tail}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def run_encoder(command: list[str], output: Path, file_mode: int = 0o644) -> int:
    """Runs a cjxl command writing ``output`` atomically; returns the output size.

    ``command[2]`` (the output) is replaced by a hidden temp file in the output
    folder, renamed over ``output`` only after cjxl succeeds.

    Raises:
      RuntimeError: cjxl failed or wrote nothing (message from its stderr).
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    os.close(fd)
    try:
        run = subprocess.run([*command[:2], tmp, *command[3:]], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        if run.returncode != 0:
            raise RuntimeError(_stderr_reason(run.stderr, run.returncode))
        size = os.path.getsize(tmp)
        if size == 0:
            raise RuntimeError("cjxl wrote an empty file")
        os.chmod(tmp, file_mode)
        os.replace(tmp, output)
        return size
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _probe(path: Path) -> tuple[str, str, int]:
    """(Pillow format, mode, EXIF orientation) of an image that already decoded."""
    with Image.open(path) as image:
        fmt, mode = image.format or "", image.mode
    return fmt, mode, exif_orientation(path)


def encode_directory(image_dir, output_dir, predictor, *, encoder: str = "cjxl",
                     new_suffix: str = "jxl", extra_flags: Sequence[str] = (),
                     jobs: Optional[int] = None, dry_run: bool = False,
                     skip_existing: bool = False, verbose: bool = False,
                     progress: bool = True, recursive: bool = True, batch_size: int = 8,
                     echo: Callable[[str], None] = print) -> EncodeSummary:
    """Encodes every image under ``image_dir`` to centre-first progressive JPEG XL.

    Args:
      image_dir: the input folder (walked recursively unless ``recursive=False``).
      output_dir: where outputs go, mirroring the input tree (``a/b.jpg`` ->
        ``output_dir/a/b.jpg.jxl``); may be ``None`` for a dry run. It may be
        ``image_dir`` itself; an output that would replace an input is refused.
      predictor: a :class:`~attention_center.model_io.Predictor`.
      encoder: cjxl name or path (:func:`find_encoder`).
      new_suffix: output suffix.
      extra_flags: flags passed on to cjxl (they override ours).
      jobs: cjxl processes at once (default: the number of CPUs).
      dry_run: predict and print the commands; write nothing.
      skip_existing: leave inputs whose output exists (resume a run).
      verbose: print each command.
      progress: show a tqdm progress bar (stderr).
      recursive: walk sub-folders.
      batch_size: images per model batch.
      echo: where command lines go (``print``).
    Returns:
      an :class:`EncodeSummary`; failures are in it, never raised.
    Raises:
      NotADirectoryError: ``image_dir`` is not a folder.
      ValueError: no ``output_dir`` for a real run.
      EncoderNotFoundError: no cjxl (real runs only).
    """
    from tqdm import tqdm

    from attention_center.prediction import predict_images

    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise NotADirectoryError(f"{image_dir}: not a directory")
    if output_dir is None and not dry_run:
        raise ValueError("an output directory is needed (or do a dry run)")
    out_root = Path(output_dir) if output_dir is not None else Path(".")
    encoder_path = encoder if dry_run else find_encoder(encoder)
    jobs = max(1, int(jobs or os.cpu_count() or 1))
    cjxl_threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    exclude = [out_root] if output_dir is not None and not _same_file(out_root, image_dir) else []
    images, ignored = find_images(image_dir, recursive=recursive, exclude=exclude)
    inputs = {p.resolve() for p in images}
    file_mode = 0o666 & ~_umask()

    results: dict[int, EncodeResult] = {}
    todo: list[int] = []
    for i, source in enumerate(images):
        output = output_path_for(source, image_dir, out_root, new_suffix)
        if output.resolve() in inputs or _same_file(output, source):
            results[i] = EncodeResult(source, output, "failed",
                                      error=f"output {output} would overwrite an input; refused")
        elif skip_existing and output.is_file() and output.stat().st_size > 0:
            results[i] = EncodeResult(source, output, "skipped")
        else:
            results[i] = EncodeResult(source, output, "pending")
            todo.append(i)

    bar = tqdm(total=len(images), unit="img", desc="encode", disable=not progress,
               dynamic_ncols=True)
    bar.update(len(images) - len(todo))
    lock = threading.Lock()
    temp_inputs: list[Path] = []

    def tick():
        with lock:
            bar.update(1)

    def say(text: str):
        with lock:
            if progress:
                bar.write(text)
            else:
                echo(text)

    def work(result: EncodeResult, command: list[str], temp_input: Optional[Path]):
        try:
            result.bytes_out = run_encoder(command, result.output, file_mode)
            result.status = "encoded"
        except (RuntimeError, OSError) as error:
            result.status, result.error = "failed", str(error)
        finally:
            if temp_input is not None and temp_input.exists():
                temp_input.unlink()
            tick()

    executor = None if dry_run else concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    futures = []
    try:
        stream = predict_images([images[i] for i in todo], predictor, batch_size=batch_size,
                                keep_images=True)
        for i, prediction in zip(todo, stream):
            result = results[i]
            result.bytes_in = result.source.stat().st_size if result.source.exists() else 0
            if not prediction.ok:
                result.status, result.error = "failed", prediction.error
                tick()
                continue
            image, prediction.image = prediction.image, None
            result.display_center = tuple(float(v) for v in prediction.center)
            try:
                fmt, mode, orientation = _probe(result.source)
            except (OSError, ValueError) as error:  # changed since it was decoded
                result.status, result.error = "failed", ImageLoadError(result.source,
                                                                       str(error)).reason
                tick()
                continue
            direct = fmt in DIRECT_FORMATS and mode != "CMYK"
            temp_input = None
            if direct:
                result.center = encoder_center(prediction.center, prediction.original_hw,
                                               orientation)
                cjxl_input = result.source
            else:  # cjxl cannot read it: hand it the upright pixels as PNG
                result.center = encoder_center(prediction.center, prediction.original_hw, 1)
                cjxl_input = result.source
                if not dry_run:
                    result.output.parent.mkdir(parents=True, exist_ok=True)
                    fd, name = tempfile.mkstemp(dir=result.output.parent,
                                                prefix=f".{result.source.name}.", suffix=".png")
                    os.close(fd)
                    temp_input = cjxl_input = Path(name)
                    temp_inputs.append(temp_input)
                    Image.fromarray(image).save(temp_input, format="PNG", compress_level=1)
            command = cjxl_command(encoder_path, cjxl_input, result.output, result.center,
                                   extra_flags, num_threads=cjxl_threads)
            result.command = command
            if dry_run or verbose:
                say(" ".join(command) + ("" if direct else f"   # {result.source} via PNG"))
            if dry_run:
                result.status = "dry_run"
                tick()
                continue
            futures.append(executor.submit(work, result, command, temp_input))
        concurrent.futures.wait(futures)
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        for temp_input in temp_inputs:  # left by jobs cancelled before they ran
            if temp_input.exists():
                temp_input.unlink()
        bar.close()
    for result in results.values():
        if result.status == "pending":  # interrupted before it ran
            result.status, result.error = "failed", "not run (interrupted)"
    return EncodeSummary(results=[results[i] for i in range(len(images))], ignored=ignored)
