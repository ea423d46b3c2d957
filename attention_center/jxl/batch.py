"""Encoding a folder of images as centre-first progressive JPEG XL.

For each image of a directory tree: predict its centre (batched, in this process), then
run ``cjxl INPUT OUTPUT --group_order 1 --center_x X --center_y Y [extra flags]``
(:mod:`attention_center.jxl.encoder`; several at once, in threads that wait on the
subprocesses), each output written atomically. One bad file never stops the rest: its
failure is in the :class:`EncodeSummary`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import threading
from pathlib import Path
from typing import Callable, Optional, Sequence

from PIL import Image

from attention_center.core.atomic import remove_stale_temporaries, temporary_name
from attention_center.core.files import find_images
from attention_center.core.images import ImageLoadError
from attention_center.core.orientation import read_orientation
from attention_center.jxl.encoder import (
    DIRECT_FORMATS,
    EncoderError,
    cjxl_command,
    encoder_center,
    find_encoder,
    run_encoder,
)

__all__ = ["EncodeResult", "EncodeSummary", "encode_directory", "output_path_for"]


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


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _probe(path: Path) -> tuple[str, str, int]:
    """(Pillow format, mode, EXIF orientation) of an image that already decoded."""
    with Image.open(path) as image:
        fmt, mode = image.format or "", image.mode
    return fmt, mode, read_orientation(path)


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
      predictor: a :class:`~attention_center.inference.predictors.Predictor`.
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

    from attention_center.inference.prediction import predict_images

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
    if output_dir is not None and not dry_run:
        remove_stale_temporaries(out_root)  # what a killed run left
    images, ignored = find_images(image_dir, recursive=recursive, exclude=exclude)
    inputs = {p.resolve() for p in images}

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
            result.bytes_out = run_encoder(command, result.output)
            result.status = "encoded"
        except (EncoderError, OSError) as error:
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
                    temp_input = cjxl_input = temporary_name(result.output, ".png")
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
