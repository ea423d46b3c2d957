"""One export, end to end: load, convert, check parity, attach metadata, write atomically.

:class:`Exporter` holds what several quantizations of one model share (the
loaded model at the export size, its SavedModel, the parity frames and the
Keras centres on them), so the CLI and the benchmark convert each model once
per quantization and nothing more.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attention_center.core.atomic import atomic_path, atomic_write_bytes
from attention_center.core.files import (
    OutputFolderError,
    check_output_folder,
    file_identity,
    is_inside,
    not_a_file_reason,
    resolved,
)
from attention_center.core.frames import MODEL_FRAME_HW
from export import converter, images, metadata, parity, ranges
from export.errors import ExportError, ExportUsageError


@dataclasses.dataclass
class ExportResult:
    """What :meth:`Exporter.export` wrote.

    Attributes:
      path: the ``.tflite`` file (``None`` if parity failed and nothing was written).
      metadata_path: the ``.json`` beside it.
      quantization: its quantization.
      size_bytes: file size.
      parity: the parity check.
      metadata: the metadata embedded in the file.
    """

    path: Path | None
    metadata_path: Path | None
    quantization: str
    size_bytes: int
    parity: parity.ParityReport
    metadata: dict


class Exporter:
    """Exports one Keras model to TFLite in one or more quantizations.

    Args:
      model_path: the ``.keras`` file.
      input_hw: ``(H, W)`` of the exported model's frame.
      outputs: output keys, output 0 first (``("center",)`` or
        ``("center", "weight_map")``).
      representative_paths: calibration images for int8 (default:
        :func:`export.images.default_representative_paths`).
      parity_paths: parity images (default: :func:`export.images.default_parity_paths`).
      model_card: model card JSON path (default: ``metadata.json`` beside the model, else
        what its training run folder says; see :func:`export.metadata.default_model_card`).
      progress: show tqdm progress bars.
      internal_hw: the network's working size inside the graph; see
        :func:`export.converter.fixed_size_model` (default: the model's own).
      float_until: for ``int8``, the backbone's layers up to this pyramid level stay in
        float32 (:func:`export.converter.backbone_layers_until`; ``None``: none).
      int8_ranges: for ``int8``, the activation ranges: ``"minmax"`` (TFLite's calibrated
        min/max) or ``"mse"`` (:mod:`export.ranges`).
      int8_bias_correction: for ``int8``, correct each quantized op's bias so that its int8
        output keeps the float model's channel means (:mod:`export.bias_correction`).

    Unreadable images among the representative or parity images are skipped
    and listed in :attr:`skipped_images`.
    """

    def __init__(
        self,
        model_path,
        input_hw=MODEL_FRAME_HW,
        outputs: Sequence[str] = ("center",),
        representative_paths=None,
        parity_paths=None,
        model_card=None,
        progress: bool = True,
        internal_hw="model",
        float_until: str | None = converter.DEFAULT_FLOAT_UNTIL,
        int8_ranges: str = "minmax",
        int8_bias_correction: bool = False,
    ):
        self.int8_ranges = ranges.check_ranges(int8_ranges)  # before the model loads
        self.model_path = Path(model_path)
        self.input_hw = tuple(int(v) for v in input_hw)
        self.outputs = tuple(outputs)
        if not self.outputs or self.outputs[0] != "center":
            raise ExportError(f"output 0 must be 'center', got {self.outputs}")
        self.progress = progress
        self.skipped_images: list = []
        self._representative_paths = representative_paths
        self._parity_paths = parity_paths
        if model_card is not None and not Path(model_card).is_file():
            raise ExportUsageError(f"{model_card}: model card not found")
        self.source_model = converter.load_center_model(self.model_path)
        self.model_card = (
            metadata.read_model_card(model_card)
            if model_card is not None
            else metadata.default_model_card(self.model_path)
        )
        self.model = converter.fixed_size_model(self.source_model, self.input_hw, internal_hw)
        self.float_until = float_until
        if float_until:
            levels = converter.pyramid_levels(self.model)
            if levels and float_until not in levels:
                raise ExportUsageError(
                    f"--int8_float_until {float_until}: {self.model_path} has no pyramid level "
                    f"{float_until}; its backbone's levels are {', '.join(levels)} "
                    "(or 'none': quantize the whole backbone)"
                )
        self.int8_bias_correction = bool(int8_bias_correction)
        self.float_layers = (
            converter.backbone_layers_until(self.model, float_until) if float_until else []
        )
        self._tmp = tempfile.TemporaryDirectory(prefix="attention_center_export_")
        self._saved_model: Path | None = None
        self._reference = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self._tmp.cleanup()

    # -- inputs ----------------------------------------------------------------
    def representative_paths(self) -> list[Path]:
        if self._representative_paths is None:
            self._representative_paths = images.default_representative_paths()
        return list(self._representative_paths)

    def parity_paths(self) -> list[Path]:
        if self._parity_paths is None:
            self._parity_paths = images.default_parity_paths()
        return list(self._parity_paths)

    def _frames(self, paths, description):
        frames = images.iter_frames(paths, self.input_hw, errors=self.skipped_images)
        if self.progress:
            from tqdm import tqdm

            frames = tqdm(frames, total=len(paths), desc=description, unit="image", leave=False)
        for _, frame in frames:
            yield frame

    def _check_representative_images(self) -> None:
        """Raises :class:`ExportError` unless at least one calibration image can be read.

        (Reads images until one loads, so a folder of unreadable files fails here
        with their names, not deep inside the converter.)
        """
        paths = self.representative_paths()
        if not paths:
            raise ExportError("no representative images for int8 calibration")
        errors: list = []
        if next(images.iter_frames(paths, self.input_hw, errors=errors), None) is None:
            shown = "; ".join(str(e) for e in errors[:3])
            raise ExportError(
                f"none of the {len(paths)} representative images could be read "
                f"({shown}{'; ...' if len(errors) > 3 else ''})"
            )

    def representative_frames(self):
        """Calibration frames, streamed (a fresh generator per call)."""
        return self._frames(self.representative_paths(), "int8 calibration")

    def reference(self) -> tuple[list[Path], np.ndarray, np.ndarray]:
        """``(paths, frames [N, H, W, 3], keras centres [N, 2])`` of the parity images."""
        if self._reference is None:
            paths = self.parity_paths()
            pairs = list(images.iter_frames(paths, self.input_hw, errors=self.skipped_images))
            if not pairs:
                raise ExportError("no readable parity images")
            kept = [p for p, _ in pairs]
            frames = np.stack([f for _, f in pairs])
            self._reference = (kept, frames, parity.keras_centers(self.model, frames))
        return self._reference

    # -- conversion --------------------------------------------------------------
    def saved_model(self, directory=None) -> Path:
        """The SavedModel the conversions start from (written once, in a temporary folder).

        With ``directory``, also writes it there (the folder must not exist yet,
        or be empty); it appears there complete or not at all.
        """
        if self._saved_model is None:
            self._saved_model = converter.write_saved_model(
                self.model, Path(self._tmp.name) / "saved_model", self.input_hw, self.outputs
            )
        if directory is not None:
            directory = Path(directory)
            if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
                raise ExportError(
                    f"{directory}: exists and is not an empty folder; not overwriting it"
                )
            with atomic_path(directory, directory=True) as staging:
                shutil.copytree(self._saved_model, staging, dirs_exist_ok=True)
        return self._saved_model

    def convert(self, quantization: str) -> bytes:
        """Drop-in ``.tflite`` bytes in one quantization (no metadata yet)."""
        if quantization not in converter.QUANTIZATIONS:
            raise ExportError(
                f"quantization must be one of {converter.QUANTIZATIONS}, got {quantization!r}"
            )
        if quantization == "int8":
            self._check_representative_images()
        return converter.convert_saved_model(
            self.saved_model(),
            quantization,
            self.representative_frames if quantization == "int8" else None,
            self.outputs,
            self.float_layers,
            self.int8_ranges,
            self.int8_bias_correction,
        )

    def check_parity(
        self, content: bytes, quantization: str, threshold: float | None = None
    ) -> parity.ParityReport:
        paths, frames, centers = self.reference()
        return parity.parity_report(
            content,
            quantization,
            frames,
            centers,
            names=[p.name for p in paths],
            threshold=threshold,
        )

    def export(self, quantization: str, out, threshold: float | None = None) -> ExportResult:
        """Converts, checks parity, embeds metadata and writes ``out`` and ``out.json``.

        Raises:
          ExportError: conversion failed, or parity is above the threshold
            (then nothing is written).
        """
        content = self.convert(quantization)
        report = self.check_parity(content, quantization, threshold)
        if not report.passed:
            raise ExportError(
                f"{report.line()}; worst image {report.worst_image}; {out} not written"
            )
        info = metadata.build_metadata(
            model=self.model,
            tflite_content=content,
            quantization=quantization,
            input_hw=self.input_hw,
            model_path=self.model_path,
            model_card=self.model_card,
            parity=report.to_dict(),
            outputs=self.outputs,
        )
        if quantization == "int8":
            info["quantization"]["float_layers_until"] = (
                self.float_until if self.float_layers else None
            )
            info["quantization"]["activation_ranges"] = self.int8_ranges
            info["quantization"]["bias_correction"] = self.int8_bias_correction
        content = metadata.embed_metadata(content, info)
        path = atomic_write_bytes(out, content, fsync=True)
        sidecar = atomic_write_bytes(
            metadata.sidecar_path(path), metadata.to_json(info).encode("utf-8")
        )
        return ExportResult(
            path=path,
            metadata_path=sidecar,
            quantization=quantization,
            size_bytes=len(content),
            parity=report,
            metadata=info,
        )


def _model_path(model) -> Path:
    """``--model``: a ``.keras`` path, or a preset name (its ``model.keras``); default: the default
    preset's."""
    from attention_center.presets import PresetError, resolve_model

    try:
        return resolve_model(model, fmt="keras")
    except PresetError as error:
        raise ExportUsageError(str(error)) from error


def _image_paths(listing, *args) -> list:
    """``listing(*args)`` (a folder's photos), a missing or empty folder a usage error."""
    try:
        return listing(*args)
    except ExportError as error:
        raise ExportUsageError(str(error)) from None


def _inputs(model_path: Path, model_card, image_paths) -> dict:
    """``{file_identity: description}`` of the files an export reads: the model, its model card
    (``--model_card``, or the ``metadata.json`` beside the model, or its training run's
    ``config.json`` and ``history.jsonl``: :func:`export.metadata.default_model_card`) and the
    calibration and parity images."""
    inputs = {
        file_identity(path): f"a {kind} image" for kind, paths in image_paths for path in paths
    }
    if model_card is not None:
        inputs[file_identity(model_card)] = f"the model card --model_card {model_card}"
    else:
        folder = resolved(model_path).parent
        for name in ("metadata.json", "config.json", "history.jsonl"):
            inputs[file_identity(folder / name)] = f"{folder / name}, read for the model card"
    inputs[file_identity(model_path)] = "the input model"
    return inputs


def _check_outputs(out: Path, saved_model, model_path: Path, model_card, image_paths) -> None:
    """Refuses, before any work (:class:`ExportUsageError`), outputs that would overwrite an
    input or each other: ``--out``, its metadata ``<out>.json`` and ``--saved_model`` (which
    must be a new or empty folder)."""
    sidecar = metadata.sidecar_path(out)
    inputs = _inputs(model_path, model_card, image_paths)
    for path, what in ((out, f"{out}"), (sidecar, f"{out}: its metadata file {sidecar}")):
        found = inputs.get(file_identity(path))
        if found:
            raise ExportUsageError(f"--out {what}: is {found}; not overwriting it")
    if sidecar.is_dir():
        raise ExportUsageError(f"--out {out}: its metadata file {sidecar} is a folder")
    if not saved_model:
        return
    directory = Path(saved_model)
    reason = not_a_file_reason(directory)
    if reason is None or (reason not in ("no such file", "is a directory")):
        what = "a file" if reason is None else reason
        raise ExportUsageError(
            f"--saved_model {directory}: exists and is not a folder ({what}); "
            "give a new or empty folder"
        )
    if reason == "is a directory" and any(directory.iterdir()):
        raise ExportUsageError(
            f"--saved_model {directory}: exists and is not an empty folder; not overwriting it"
        )
    for path, name in ((out, "--out"), (sidecar, "--out's metadata file")):
        if is_inside(path, directory):
            raise ExportUsageError(
                f"--saved_model {directory}: {name} {path} would be written into it; "
                "give the SavedModel its own folder"
            )
    try:
        check_output_folder(directory.parent)
    except OutputFolderError as error:
        raise ExportUsageError(f"--saved_model {directory}: its folder {error}") from None


def run_export(
    *,
    model=None,
    out="center.tflite",
    quantization="int8",
    input_hw=MODEL_FRAME_HW,
    internal_hw="model",
    representative_data=None,
    num_representative=100,
    parity_data=None,
    num_parity=50,
    parity_threshold=None,
    saved_model=None,
    weight_map=False,
    model_card=None,
    progress=True,
    float_until=converter.DEFAULT_FLOAT_UNTIL,
    int8_ranges="minmax",
    int8_bias_correction=False,
    stdout=None,
    stderr=None,
) -> int:
    """What ``python -m export`` does, without flags: returns the exit status.

    0: written. 1: failed (conversion or parity failure, no readable image; nothing
    written), or written but some images were unreadable (listed on ``stderr``). 2: a usage
    error found before any work (:class:`~export.errors.ExportUsageError`: a missing or
    invalid model, a bad flag value, an ``int8_float_until`` level the model's backbone
    lacks, a missing or empty image folder, an unusable ``--out``, an ``--out`` or
    ``<out>.json`` that is an input (the model, its model card, an image) or a
    ``saved_model`` that exists and is not an empty folder; nothing written). Messages name
    the file and the problem.
    """
    import sys

    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr

    def fail(message, status=1):
        stderr.write(f"python -m export: error: {message}\n")
        return status

    try:
        converter.require_tensorflow_backend()
        if quantization not in converter.QUANTIZATIONS:
            raise ExportUsageError(
                f"quantization must be one of {converter.QUANTIZATIONS}, got {quantization!r}"
            )
        if parity_threshold is not None and not 0.0 < float(parity_threshold) < 1.0:
            raise ExportUsageError(
                f"--parity_threshold is a fraction of the frame diagonal, in (0, 1); "
                f"got {parity_threshold}"
            )
        if float_until is not None and not re.fullmatch(r"P[1-9]", str(float_until)):
            raise ExportUsageError(
                f"--int8_float_until must be a pyramid level (P2, P3, ...) or 'none', "
                f"got {float_until!r}"
            )
        ranges.check_ranges(int8_ranges)
        if num_parity < 1 or num_representative < 1:
            raise ExportUsageError("--num_parity and --num_representative must be at least 1")
        model_path = _model_path(model)
        if not model_path.is_file():
            converter.load_center_model(model_path)  # raises "no such model", "a FIFO"...
        from attention_center.inference.predictors import keras_file_problem

        problem = model_path.suffix == ".keras" and keras_file_problem(model_path)
        if problem:  # what Keras says of a truncated file is "File not found"
            raise ExportUsageError(f"{model_path}: {problem}")
        if model_card is not None and not Path(model_card).is_file():
            reason = not_a_file_reason(model_card)
            raise ExportUsageError(
                f"--model_card {model_card}: "
                + ("model card not found" if reason in (None, "no such file") else reason)
            )
        out_path = Path(out)
        if out_path.is_dir():
            raise ExportUsageError(f"{out}: is a folder; --out must be a .tflite file path")
        representative = None
        if quantization == "int8":
            representative = (
                _image_paths(images.paths_from, representative_data, num_representative)
                if representative_data
                else _image_paths(images.default_representative_paths, num_representative)
            )
        parity_paths = (
            _image_paths(images.paths_from, parity_data, num_parity)
            if parity_data
            else _image_paths(images.default_parity_paths, num_parity)
        )
        _check_outputs(
            out_path,
            saved_model,
            model_path,
            model_card,
            [("calibration", representative or []), ("parity", parity_paths)],
        )
        try:  # after the inputs are checked (nothing created for a bad input), before
            # the minutes of conversion: a folder we cannot write is found now
            check_output_folder(out_path.parent)
        except OutputFolderError as error:
            raise ExportUsageError(f"--out {out}: its folder {error}") from None
        outputs = ("center", "weight_map") if weight_map else ("center",)
        with Exporter(
            model_path,
            input_hw,
            outputs,
            representative_paths=representative,
            parity_paths=parity_paths,
            model_card=model_card,
            progress=progress,
            internal_hw=internal_hw,
            float_until=float_until,
            int8_ranges=int8_ranges,
            int8_bias_correction=int8_bias_correction,
        ) as exporter:
            if saved_model:
                exporter.saved_model(saved_model)
                stdout.write(f"wrote SavedModel {saved_model}\n")
            result = exporter.export(quantization, out, parity_threshold)
            skipped = list(dict.fromkeys(str(e) for e in exporter.skipped_images))
    except ExportError as error:
        return fail(str(error), 2 if isinstance(error, ExportUsageError) else 1)
    except OSError as error:  # e.g. the output folder is not writable
        name = error.filename or out
        return fail(f"{name}: {error.strerror or error}")
    info = result.metadata["quantization"]
    stdout.write(result.parity.line() + "\n")
    stdout.write(f"ops: {', '.join(f'{k} x{v}' for k, v in info['ops'].items())}\n")
    if quantization == "int8":
        stdout.write(f"ops left in float: {', '.join(info['float_ops']) or 'none'}\n")
    stdout.write(
        f"wrote {result.path} ({result.size_bytes / 1e6:.2f} MB, {quantization}) and "
        f"{result.metadata_path}\n"
    )
    for error in skipped:
        stderr.write(f"python -m export: skipped unreadable image {error}\n")
    return 1 if skipped else 0
