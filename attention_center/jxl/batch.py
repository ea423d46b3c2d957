"""Encoding a folder of images as centre-first progressive JPEG XL.

For each image of a directory tree: predict its centre (batched, in this process), then
run ``cjxl INPUT OUTPUT --group_order 1 --center_x X --center_y Y [extra flags]``
(:mod:`attention_center.jxl.encoder`; several at once, in threads that wait on the
subprocesses), each output written atomically. One bad file never stops the rest: its
failure is in the :class:`EncodeSummary`.

Work and memory per image: each image is decoded once for the model, straight into the
model frame (a large JPEG at the reduced DCT scale the model needs, as ``attention-center
predict`` decodes it, so both give the same centre; the pixels are not kept); cjxl reads
the file itself, or a temporary PNG of the file's own pixels (WebP, TIFF, ...: decoded again
to write it); its EXIF orientation is read once. cjxl runs ``jobs`` at a time (never more
than there are images to encode), each with ``--num_threads`` = CPUs // ``jobs`` (none,
cjxl's default of every core, when one runs at a time: ``jobs=1``, or a single image; a
``--num_threads`` among the extra flags wins). At most ``2 * jobs`` images are ahead of
cjxl (submitted and not finished), so the temporary PNGs do not pile up on disk while cjxl
lags.

Hostile inputs and interruptions (issue 17): the output folder is checked (created, a
file written and removed) and the extra cjxl flags are tried on a tiny image before any
work (:class:`~attention_center.core.files.OutputFolderError`,
:class:`~attention_center.jxl.encoder.EncoderFlagsError`); no output is written outside
``output_dir`` nor over an input; a Ctrl-C or SIGTERM stops every cjxl, removes the
temporaries and raises :class:`EncodeInterrupted` with the summary so far; after a
``kill -9`` the cjxl children die with us (:mod:`attention_center.core.processes`) and the
next run removes the temporaries left (:mod:`attention_center.core.atomic`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

from attention_center.core.atomic import remove_stale_temporaries, temporary_name
from attention_center.core.files import (
    check_output_folder,
    file_identity,
    find_images,
    is_inside,
    resolved,
)
from attention_center.core.images import DEFAULT_MAX_PIXELS, ImageLoadError
from attention_center.core.orientation import read_orientation
from attention_center.core.orientation import stored_hw as _stored_shape
from attention_center.core.processes import ChildProcesses, interrupts_deferred
from attention_center.jxl.center_choice import (
    CENTER_STRATEGIES,
    check_center_strategy,
    cjxl_center,
)
from attention_center.jxl.defaults import center_cjxl_survives, jpeg_transcode
from attention_center.jxl.encoder import (
    EncoderError,
    EncoderInterrupted,
    check_encoder_flags,
    cjxl_command,
    command_text,
    find_encoder,
    png_reason,
    run_encoder,
    write_encoder_png,
)

__all__ = [
    "CENTER_STRATEGIES",
    "EncodeInterrupted",
    "EncodeResult",
    "EncodeSummary",
    "check_new_suffix",
    "encode_directory",
    "output_path_for",
]


def check_new_suffix(new_suffix: str) -> str:
    """``new_suffix`` without its leading dots (``".jxl"`` -> ``"jxl"``), checked to be a plain
    file-name ending, so that each output is a file of its own beside where its input's
    place is mirrored.

    Raises:
      ValueError: it is empty (``a.jpg.`` outputs), holds a path separator
        (``"../../all.jxl"`` made every output the same file, outside the output folder,
        and left stray folders), a NUL, or a dot at its end or two in a row.
    """
    suffix = str(new_suffix).lstrip(".")
    separators = {"/", os.sep, os.altsep} - {None}
    if not suffix:
        reason = "is empty"
    elif any(separator in suffix for separator in separators):
        reason = "holds a path separator"
    elif "\0" in suffix:
        reason = "holds a NUL character"
    elif "" in suffix.split("."):
        reason = "ends with a dot or has two dots in a row"
    else:
        return suffix
    raise ValueError(
        f"new_suffix {new_suffix!r} {reason}: give a plain file-name ending, such as jxl"
    )


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
        ``"dry_run"``, ``"failed"`` or ``"interrupted"`` (not done: the run was stopped).
      error: one line for ``"failed"``.
      center: the ``(x, y)`` passed to cjxl (stored orientation), if any.
      display_center: the predicted ``(x, y)`` in displayed pixels, if any.
      bytes_in, bytes_out: file sizes (``bytes_out`` 0 unless encoded).
      command: the cjxl command line.
      notes: remarks on the image (e.g. an animated image's centre is its first frame's).
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
    notes: tuple[str, ...] = ()


@dataclasses.dataclass
class EncodeSummary:
    """All results of a run (input order) and the files that were not images.

    ``interrupted``: the run was stopped (Ctrl-C, SIGTERM) before every image was done.
    ``unlisted``: one line per folder that could not be listed (``"<folder>: cannot list
    folder: Permission denied"``); its images were not encoded, so the run is not ``ok``.
    """

    results: list[EncodeResult]
    ignored: list[Path] = dataclasses.field(default_factory=list)
    interrupted: bool = False
    unlisted: list[str] = dataclasses.field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[EncodeResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted and not self.unlisted

    @property
    def bytes_in(self) -> int:
        return sum(r.bytes_in for r in self.results if r.status == "encoded")

    @property
    def bytes_out(self) -> int:
        return sum(r.bytes_out for r in self.results if r.status == "encoded")

    def format(self) -> str:
        """A human summary: counts, bytes in and out, then each failure on its own line."""
        parts = [f"{self.count('encoded')} encoded"]
        for status, label in (
            ("skipped", "skipped (output exists)"),
            ("dry_run", "dry run"),
            ("failed", "failed"),
            ("interrupted", "not done (interrupted)"),
        ):
            if self.count(status):
                parts.append(f"{self.count(status)} {label}")
        lines = [
            f"{len(self.results)} images: "
            + ", ".join(parts)
            + (f"; {len(self.ignored)} other files ignored" if self.ignored else "")
            + (
                f"; {len(self.unlisted)} folder{'s' if len(self.unlisted) > 1 else ''} "
                "could not be listed"
                if self.unlisted
                else ""
            )
        ]
        if self.count("encoded"):
            ratio = self.bytes_out / self.bytes_in if self.bytes_in else float("nan")
            lines.append(f"bytes: {self.bytes_in:,} in -> {self.bytes_out:,} out ({ratio:.1%})")
        if self.failed or self.unlisted:
            lines.append("failed:")
            lines += [f"  {line}" for line in self.unlisted]
            lines += [f"  {r.source}: {r.error}" for r in self.failed]
        noted = [r for r in self.results if r.notes]
        if noted:
            lines.append("notes:")
            lines += [f"  {r.source}: {note}" for r in noted for note in r.notes]
        if self.interrupted:
            lines.append(
                f"interrupted: {self.count('interrupted')} images not done; the same "
                "command with --skip_existing finishes them"
            )
        return "\n".join(lines)


class EncodeInterrupted(KeyboardInterrupt):
    """:func:`encode_directory` was interrupted; ``summary`` says what was done.

    A ``KeyboardInterrupt``, so code that does not know it stops as on any Ctrl-C.
    """

    def __init__(self, summary: EncodeSummary):
        super().__init__("interrupted")
        self.summary = summary


def _refusal(output: Path, source: Path, out_root: Path, inputs: set) -> Optional[str]:
    """Why ``output`` may not be written (over an input, outside the output folder), or None."""
    if resolved(output) in inputs or file_identity(output) == file_identity(source):
        return f"output {output} would overwrite an input; refused"
    if not is_inside(output.parent, out_root):
        return (
            f"output {output} would be written outside the output folder {out_root} "
            "(a symbolic link in it?); refused"
        )
    return None


def _os_reason(error: OSError) -> str:
    """One line for an OSError: what failed, on which file."""
    where = f" {error.filename}" if getattr(error, "filename", None) else ""
    return f"cannot write{where}: {(error.strerror or str(error)).lower()}"


def _write_temporary_png(source: Path, output: Path, max_pixels: Optional[int]) -> Path:
    """The image's own pixels, upright, as a PNG for cjxl
    (:func:`~attention_center.jxl.encoder.write_encoder_png`: alpha, ICC profile and 16-bit
    grey kept), a temporary beside ``output``; returns its path.

    Raises:
      OSError: the folder cannot be created or written (nothing is left behind).
      ImageLoadError: ``source`` cannot be read again (nothing is left behind).
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(output, ".png")
    try:
        write_encoder_png(source, temporary, max_pixels=max_pixels)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _probe(path: Path) -> tuple[Optional[str], int]:
    """(why cjxl needs a PNG of it or ``None``, EXIF orientation) of an image that already
    decoded; the only place encode reads the orientation (once per image)."""
    return png_reason(path), read_orientation(path)


def _cjxl_threads(running: int) -> Optional[int]:
    """cjxl's ``--num_threads`` when ``running`` cjxl processes share the CPUs: an equal
    share, or ``None`` (cjxl's default, every core) when one runs at a time."""
    return max(1, (os.cpu_count() or 1) // running) if running > 1 else None


def encode_directory(
    image_dir,
    output_dir,
    predictor,
    *,
    encoder: str = "cjxl",
    new_suffix: str = "jxl",
    extra_flags: Sequence[str] = (),
    jobs: Optional[int] = None,
    dry_run: bool = False,
    skip_existing: bool = False,
    verbose: bool = False,
    progress: bool = True,
    recursive: bool = True,
    batch_size: int = 8,
    echo: Callable[[str], None] = print,
    center_strategy: str = "model",
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
) -> EncodeSummary:
    """Encodes every image under ``image_dir`` to centre-first progressive JPEG XL.

    Args:
      image_dir: the input folder (walked recursively unless ``recursive=False``).
      output_dir: where outputs go, mirroring the input tree (``a/b.jpg`` ->
        ``output_dir/a/b.jpg.jxl``); may be ``None`` for a dry run. It may be
        ``image_dir`` itself; an output that would replace an input is refused.
      predictor: a :class:`~attention_center.inference.predictors.Predictor`.
      encoder: cjxl name or path (:func:`find_encoder`).
      new_suffix: output suffix, a plain file-name ending (:func:`check_new_suffix`).
      extra_flags: flags passed on to cjxl (they override ours).
      jobs: cjxl processes at once (default: the number of CPUs); never more than the
        images to encode, so one image alone gets every core. Each cjxl gets
        ``--num_threads`` CPUs // jobs (none, cjxl's default, when one runs at a time);
        at most ``2 * jobs`` images are submitted to cjxl and not finished at once.
      dry_run: predict and print the commands; write nothing.
      skip_existing: leave inputs whose output exists (resume a run).
      verbose: print each command.
      progress: show a tqdm progress bar (stderr).
      recursive: walk sub-folders.
      batch_size: images per model batch.
      echo: where command lines go (``print``).
      center_strategy: ``"model"``: the model's centre as it is; ``"chosen"``: the
        point whose centre-first group order makes the region around the predicted
        centre final soonest (:mod:`attention_center.jxl.center_choice`).
      max_pixels: refuse larger images (checked on the header; ``None``: no limit).
    Returns:
      an :class:`EncodeSummary`; failures (images, and folders that could not be listed)
      are in it, never raised.
    Raises:
      NotADirectoryError: ``image_dir`` is not a folder.
      ValueError: no ``output_dir`` for a real run; a ``new_suffix`` that is not a plain
        file-name ending.
      OutputFolderError: ``output_dir`` is a file, cannot be created or written (real runs).
      EncoderNotFoundError: no cjxl (real runs only).
      EncoderFlagsError: cjxl refuses ``extra_flags`` (tried on a tiny image; real runs).
      EncodeInterrupted: Ctrl-C or SIGTERM (a ``KeyboardInterrupt``) stopped the run: every
        cjxl was killed and every temporary removed; its ``summary`` is what was done.
    """
    from tqdm import tqdm

    from attention_center.inference.prediction import predict_images

    check_center_strategy(center_strategy)
    new_suffix = check_new_suffix(new_suffix)
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise NotADirectoryError(f"{image_dir}: not a directory")
    if output_dir is None and not dry_run:
        raise ValueError("an output directory is needed (or do a dry run)")
    out_root = Path(output_dir) if output_dir is not None else Path(".")
    encoder_path = encoder if dry_run else find_encoder(encoder)
    if not dry_run:  # usage errors, before any work (the flags first: they create nothing)
        check_encoder_flags(encoder_path, extra_flags)
        check_output_folder(out_root)
    jobs = max(1, int(jobs or os.cpu_count() or 1))
    separate = output_dir is not None and file_identity(out_root) != file_identity(image_dir)
    exclude = [out_root] if separate else []
    if output_dir is not None and not dry_run:
        remove_stale_temporaries(out_root)  # what a killed run left
    unlisted: list[str] = []  # folders os.walk could not list: reported, the run fails
    images, ignored = find_images(image_dir, recursive=recursive, exclude=exclude, errors=unlisted)
    inputs = {resolved(p) for p in images}

    results, todo = _planned_results(images, image_dir, out_root, new_suffix, inputs, skip_existing)
    jobs = max(1, min(jobs, len(todo)))  # fewer images than jobs: their cjxl get the cores
    cjxl_threads = _cjxl_threads(jobs)
    bar = tqdm(
        total=len(images), unit="img", desc="encode", disable=not progress, dynamic_ncols=True
    )
    bar.update(len(images) - len(todo))
    report = _Progress(bar, progress, echo)
    temp_inputs: list[Path] = []
    children = ChildProcesses()  # every cjxl of this run, stopped together on an interruption
    executor = None if dry_run else concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    # Jobs submitted and not finished (each may hold a temporary PNG): a slot each, taken
    # before the job's input is prepared and given back when it ends, however it ends.
    slots = None if dry_run else threading.BoundedSemaphore(2 * jobs)
    futures = []
    try:
        # The model's frames only: cjxl reads the file (or a PNG of it), never these pixels.
        stream = predict_images(
            [images[i] for i in todo],
            predictor,
            batch_size=batch_size,
            keep_images=False,
            max_pixels=max_pixels,
        )
        for i, prediction in zip(todo, stream):
            result = results[i]
            if slots is not None:
                slots.acquire()  # waits while 2 * jobs are ahead of cjxl (Ctrl-C still stops it)
            job = _prepared_input(result, prediction, dry_run, center_strategy, max_pixels)
            if job is None:  # failed: the reason is in the result
                if slots is not None:
                    slots.release()
                report.tick()
                continue
            cjxl_input, temp_input, direct, orientation = job
            if temp_input is not None:
                temp_inputs.append(temp_input)
            # cjxl 0.7 crashes on --progressive_dc with some centres of images over 2048 px:
            # the preview is kept, the centre left out (attention_center.jxl.defaults).
            stored = _stored_shape(tuple(prediction.original_hw), orientation)
            result.center, avoided = center_cjxl_survives(
                extra_flags, stored, result.center, jpeg_transcode(cjxl_input, extra_flags)
            )
            if avoided:
                result.notes = (*result.notes, avoided)
            command = cjxl_command(
                encoder_path,
                cjxl_input,
                result.output,
                result.center,
                extra_flags,
                num_threads=cjxl_threads,
            )
            result.command = command
            if dry_run or verbose:
                report.say(
                    command_text(command)
                    + ("" if direct else f"   # {command_text([str(result.source)])} via PNG")
                )
            if dry_run:
                result.status = "dry_run"
                report.tick()
                continue
            futures.append(
                executor.submit(_encoded, result, command, temp_input, children, report, slots)
            )
        concurrent.futures.wait(futures)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM through the command line's handler
        with interrupts_deferred():
            children.stop()
            _finish(executor, temp_inputs, bar)
        summary = _summary(images, results, ignored, interrupted=True, unlisted=unlisted)
        raise EncodeInterrupted(summary) from None
    except BaseException:
        children.stop()
        _finish(executor, temp_inputs, bar)
        raise
    _finish(executor, temp_inputs, bar)
    return _summary(images, results, ignored, interrupted=False, unlisted=unlisted)


def _planned_results(
    images, image_dir, out_root, new_suffix, inputs, skip_existing
) -> tuple[dict[int, EncodeResult], list[int]]:
    """Each image's :class:`EncodeResult` (``failed`` when its output would replace an input,
    ``skipped`` when it exists and ``skip_existing``, else ``pending``) and the pending indices."""
    results: dict[int, EncodeResult] = {}
    todo: list[int] = []
    for i, source in enumerate(images):
        output = output_path_for(source, image_dir, out_root, new_suffix)
        refusal = _refusal(output, source, out_root, inputs)
        if refusal:
            results[i] = EncodeResult(source, output, "failed", error=refusal)
        elif skip_existing and output.is_file() and output.stat().st_size > 0:
            results[i] = EncodeResult(source, output, "skipped")
        else:
            results[i] = EncodeResult(source, output, "pending")
            todo.append(i)
    return results, todo


class _Progress:
    """The progress bar and command echo, shared by the encoder threads."""

    def __init__(self, bar, progress: bool, echo: Callable[[str], None]):
        self._bar, self._progress, self._echo = bar, progress, echo
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self._bar.update(1)

    def say(self, text: str) -> None:
        with self._lock:
            if self._progress:
                self._bar.write(text)
            else:
                self._echo(text)


def _prepared_input(
    result: EncodeResult,
    prediction,
    dry_run: bool,
    center_strategy: str,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
):
    """Fills ``result``'s centres; returns ``(cjxl input path, temporary PNG or None, whether
    cjxl reads the source directly, the EXIF orientation of the file cjxl reads)``, or
    ``None`` with ``result`` marked failed.

    The centre cjxl gets is in the pixels cjxl sees: the stored pixels of a JPEG/PNG it reads
    directly (EXIF orientation undone), the upright pixels of the temporary PNG otherwise.
    The temporary PNG holds the file's own pixels (alpha, ICC profile, 16-bit grey), not
    the model's input (composited on white).
    """
    result.bytes_in = result.source.stat().st_size if result.source.exists() else 0
    if not prediction.ok:
        result.status, result.error = "failed", prediction.error
        return None
    result.display_center = tuple(float(v) for v in prediction.center)
    result.notes = tuple(f"{note} for the centre" for note in prediction.notes)
    try:
        reason, orientation = _probe(result.source)
    except (OSError, ValueError) as error:  # changed since it was decoded
        result.status, result.error = "failed", ImageLoadError(result.source, str(error)).reason
        return None
    direct = reason is None
    temp_input = None
    cjxl_input = result.source
    if not direct and not dry_run:  # cjxl cannot read it: hand it the upright pixels as PNG
        try:
            temp_input = cjxl_input = _write_temporary_png(result.source, result.output, max_pixels)
        except ImageLoadError as error:  # changed since it was decoded
            result.status, result.error = "failed", error.reason
            return None
        except OSError as error:
            result.status = "failed"
            result.error = f"{_os_reason(error)} (the PNG cjxl reads for {reason})"
            return None
    if not direct:  # the PNG holds the upright pixels
        orientation = 1
    # The centre cjxl gets (issue 19's strategy), in the pixels of the file it reads.
    result.center = cjxl_center(
        prediction.center, prediction.original_hw, orientation, center_strategy
    )
    return cjxl_input, temp_input, direct, orientation


def _encoded(
    result: EncodeResult,
    command,
    temp_input,
    children,
    report: _Progress,
    slots: Optional[threading.BoundedSemaphore] = None,
) -> None:
    """Runs one cjxl job (a worker thread) and records its outcome in ``result``; gives its
    slot back to ``slots`` when it ends, however it ends."""
    try:
        result.bytes_out = run_encoder(command, result.output, children)
        result.status = "encoded"
    except EncoderInterrupted:
        result.status, result.error = "interrupted", "stopped (interrupted)"
    except EncoderError as error:
        result.status, result.error = "failed", str(error)
    except OSError as error:
        result.status, result.error = "failed", _os_reason(error)
    finally:
        try:
            if temp_input is not None and temp_input.exists():
                temp_input.unlink()
            report.tick()
        finally:
            if slots is not None:
                slots.release()


def _finish(executor, temp_inputs: list[Path], bar) -> None:
    """Waits for the running jobs (cancelling the others), removes the temporary PNGs left."""
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)
    for temp_input in temp_inputs:  # left by jobs cancelled before they ran
        temp_input.unlink(missing_ok=True)
    bar.close()


def _summary(
    images: list[Path],
    results: dict,
    ignored: list[Path],
    interrupted: bool,
    unlisted: Sequence[str] = (),
) -> EncodeSummary:
    """The :class:`EncodeSummary` in input order; jobs that never ran are ``interrupted``."""
    for result in results.values():
        if result.status == "pending":  # interrupted before it ran
            result.status, result.error = "interrupted", "not run (interrupted)"
    return EncodeSummary(
        results=[results[i] for i in range(len(images))],
        ignored=ignored,
        interrupted=interrupted,
        unlisted=list(unlisted),
    )
