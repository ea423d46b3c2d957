"""A self-contained HTML page: one image at the same byte budgets under several group orders.

For each strategy (a column: scanline order, Google's centre, ours) the image is encoded
once with cjxl; for each budget (a row: e.g. 5 %, 20 %, 40 % of the file) the page holds
the **partial .jxl file itself** (the first N bytes, as a ``data:`` URI in a ``<picture>``
``<source type="image/jxl">``) and, as the fallback for browsers without JPEG XL, the PNG
that ``djxl --allow_partial_files`` decodes from the same bytes. Beside the grid: the
quality of the looked-at region (PSNR of the 256x256 square around the human centre, or
around our predicted centre when the image has no human data) against bytes received, one
curve per strategy, as an inline SVG. Where the image has human first fixations they are
drawn over every picture behind a toggle (a checkbox, no script needed).

The page has no external resources: it can be mailed, opened from disk or served as is
(:mod:`attention_center.jxl.compare_html` writes it).
Coordinates: (x, y), x first, 0-based pixel centres of the image as displayed; sizes (h, w).
"""

from __future__ import annotations

import dataclasses
import io
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from attention_center.jxl.center_choice import region_box
from attention_center.jxl.defaults import flags_cjxl_survives
from attention_center.jxl.encoder import (
    cjxl_command,
    find_encoder,
    png_reason,
    run_encoder,
    write_encoder_png,
)
from attention_center.jxl.partial import PrefixDecoder, psnr

__all__ = ["Cell", "Column", "Comparison", "build_comparison", "png_bytes", "summary_json"]

#: Colours of the strategies (scanline, Google, ours, then any others).
COLORS = ("#7f7f7f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd")


@dataclasses.dataclass
class Cell:
    """One strategy at one budget.

    Attributes:
      fraction: the budget, a fraction of this strategy's file.
      n_bytes: bytes received (``ceil(fraction * file size)``).
      jxl: the partial file (its first ``n_bytes`` bytes).
      png: djxl's render of it as PNG bytes, or ``None`` when nothing is decodable yet.
      region_psnr: PSNR (dB) of the looked-at region vs the full decode (``inf`` when
        identical, 0 when nothing is shown).
    """

    fraction: float
    n_bytes: int
    jxl: bytes
    png: Optional[bytes]
    region_psnr: float


@dataclasses.dataclass
class Column:
    """One strategy: how it was encoded and what it shows.

    Attributes:
      key, label: short name and description.
      flags: the cjxl flags of its group order (besides the shared extra flags).
      center: ``(x, y)`` displayed pixels it was centred on, or ``None`` (scanline).
      file_bytes: size of its whole file.
      cells: one :class:`Cell` per budget.
      curve: region PSNR (dB, ``None`` = identical) at each point of the curve grid.
      predicted: ``(x, y)`` displayed pixels the model predicted, when the file was
        encoded around another point (``center``) for it; else ``None``.
      center_note: why ``center`` is where it is (shown under the column's title).
      human_curve: with human fixations, the fixation-weighted SSIM vs the final image at
        each point of the curve grid (:func:`attention_center.jxl.quality.quality_of`).
      human_auc: its area (mean over 0-100 % of the file), or ``None``.
    """

    key: str
    label: str
    flags: list[str]
    center: Optional[tuple[float, float]]
    file_bytes: int = 0
    cells: list[Cell] = dataclasses.field(default_factory=list)
    curve: list[Optional[float]] = dataclasses.field(default_factory=list)
    predicted: Optional[tuple[float, float]] = None
    center_note: str = ""
    human_curve: list[float] = dataclasses.field(default_factory=list)
    human_auc: Optional[float] = None


@dataclasses.dataclass
class Comparison:
    """Everything the page shows.

    Attributes:
      source: the image file.
      image_hw: ``(h, w)`` as displayed.
      columns: the strategies.
      budgets: fractions of each file, e.g. ``(0.05, 0.2, 0.4)``.
      curve_grid: fractions at which the quality curve is sampled.
      region: ``(top, left, bottom, right)`` of the looked-at region; ``region_label``
        says around what it is (human or predicted centre).
      fixations: ``float [P, 2]`` human first fixations (x, y), or ``None``.
      human_center: the human centre, or ``None``.
      full_png: the whole file's decode (the same for every column), PNG bytes.
      extra_flags: cjxl flags shared by every column.
      notes: lines shown at the bottom (e.g. a column left out and why).
    """

    source: str
    image_hw: tuple[int, int]
    columns: list[Column]
    budgets: tuple[float, ...]
    curve_grid: tuple[float, ...]
    region: tuple[int, int, int, int]
    region_label: str
    fixations: Optional[np.ndarray] = None
    human_center: Optional[tuple[float, float]] = None
    full_png: bytes = b""
    extra_flags: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


def png_bytes(image: np.ndarray) -> bytes:
    """``uint8 [h, w, 3]`` -> PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _cjxl_input(source: Path, work: Path) -> Path:
    """The file cjxl reads: the source itself when it can, else a PNG of its own pixels,
    upright, as ``encode`` would make (:func:`~attention_center.jxl.encoder.png_reason`);
    an animated image gives its first frame (the page compares one picture)."""
    if png_reason(source, still=True) is None:
        return source
    path = work / "input.png"
    write_encoder_png(source, path, max_pixels=None)
    return path


def build_comparison(
    source,
    columns: Sequence[Column],
    budgets=(0.05, 0.2, 0.4),
    *,
    region_center,
    region_label: str,
    fixations=None,
    human_center=None,
    extra_flags: Sequence[str] = (),
    encoder: str = "cjxl",
    side: int = 256,
    curve_step: float = 0.05,
    work_dir=None,
    notes: Sequence[str] = (),
) -> Comparison:
    """Encodes the image once per column and decodes every budget and the curve's prefixes.

    Args:
      source: the image file.
      columns: :class:`Column` s with ``key``, ``label``, ``flags``, ``center`` set (the
        flags in cjxl's terms, stored pixels:
        :func:`attention_center.jxl.encoder.encoder_center`).
      budgets: fractions of each file to show.
      region_center: ``(x, y)`` displayed pixels of the looked-at region's centre.
      region_label: what that centre is, for the page.
      fixations: ``[P, 2]`` human first fixations (x, y), displayed pixels, or ``None``.
      human_center: the human centre, or ``None``.
      extra_flags: cjxl flags for every column (e.g. ``--progressive_dc=1``).
      side: side of the looked-at region, pixels.
      curve_step: spacing of the quality curve, a fraction of the file.
    Raises:
      EncoderError, EncoderNotFoundError, DecoderNotFoundError, OSError, ValueError.
    """
    source = Path(source)
    encoder = find_encoder(encoder)
    grid = tuple(round(curve_step * k, 6) for k in range(0, int(round(1 / curve_step)) + 1))
    own = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="compare_") if own else work_dir)
    work.mkdir(parents=True, exist_ok=True)
    from attention_center.jxl.quality import area_under_curve, fixation_density, quality_of

    columns = [dataclasses.replace(c, cells=[], curve=[], human_curve=[]) for c in columns]
    full_png, hw, box, density = b"", None, None, None
    try:
        cjxl_input = _cjxl_input(source, work)
        with Image.open(cjxl_input) as opened:
            stored = (opened.height, opened.width)  # cjxl's grid
        for column in columns:
            output = work / f"{column.key}.jxl"
            flags = [*column.flags, *extra_flags, "--quiet"]
            if "--center_x" in column.flags:  # cjxl 0.7 crashes on some (jxl/defaults.py)
                center = tuple(
                    int(column.flags[column.flags.index(f) + 1])
                    for f in ("--center_x", "--center_y")
                )
                flags, avoided = flags_cjxl_survives(flags, stored, center)
                if avoided:
                    notes = [*notes, f"{column.key}: {avoided}"]
            command = cjxl_command(encoder, cjxl_input, output, None, flags)
            run_encoder(command, output)
            data = output.read_bytes()
            column.file_bytes = len(data)
            with PrefixDecoder(data, work_dir=work / f"{column.key}_decode") as decoder:
                full = decoder.full
                if hw is None:
                    hw = full.shape[:2]
                    box = region_box(region_center, hw, side)
                    full_png = png_bytes(full)
                    if fixations is not None and len(fixations):
                        density = fixation_density(fixations, hw)
                top, left, bottom, right = box

                def quality(image):
                    if image is None:
                        return 0.0
                    return psnr(image[top:bottom, left:right], full[top:bottom, left:right])  # noqa: B023 (called in this iteration)

                for fraction in budgets:
                    n_bytes = int(math.ceil(fraction * len(data)))
                    image = decoder(n_bytes)
                    column.cells.append(
                        Cell(
                            fraction,
                            n_bytes,
                            data[:n_bytes],
                            None if image is None else png_bytes(image),
                            quality(image),
                        )
                    )
                for fraction in grid:
                    image = decoder(int(math.ceil(fraction * len(data))))
                    value = quality(image)
                    column.curve.append(None if math.isinf(value) else round(value, 2))
                    if density is not None:
                        looked = quality_of(image, full, density)["ssim_looked"]
                        column.human_curve.append(round(looked, 4))
                if density is not None:
                    column.human_auc = area_under_curve(grid[1:], column.human_curve[1:])
    finally:
        if own:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    return Comparison(
        source=str(source),
        image_hw=(int(hw[0]), int(hw[1])),
        columns=columns,
        budgets=tuple(budgets),
        curve_grid=grid,
        region=tuple(box),
        region_label=region_label,
        fixations=None if fixations is None else np.asarray(fixations, float),
        human_center=None if human_center is None else tuple(human_center),
        full_png=full_png,
        extra_flags=list(extra_flags),
        notes=list(notes),
    )


# --- outputs ---------------------------------------------------------------------------------


def summary_json(comparison: Comparison) -> dict:
    """The page's numbers, without the images."""
    return {
        "source": comparison.source,
        "image_hw": list(comparison.image_hw),
        "budgets": list(comparison.budgets),
        "region": list(comparison.region),
        "region_label": comparison.region_label,
        "extra_flags": comparison.extra_flags,
        "human_fixations": None if comparison.fixations is None else len(comparison.fixations),
        "columns": [
            {
                "key": c.key,
                "label": c.label,
                "flags": c.flags,
                "center": None if c.center is None else [float(v) for v in c.center],
                "file_bytes": c.file_bytes,
                "cells": [
                    {
                        "fraction": x.fraction,
                        "n_bytes": x.n_bytes,
                        "drawn": x.png is not None,
                        "region_psnr": None
                        if math.isinf(x.region_psnr)
                        else round(x.region_psnr, 2),
                    }
                    for x in c.cells
                ],
                "curve": c.curve,
                "predicted": None if c.predicted is None else [float(v) for v in c.predicted],
                "center_note": c.center_note,
                "human_ssim_curve": c.human_curve or None,
                "human_ssim_auc": None if c.human_auc is None else round(c.human_auc, 4),
            }
            for c in comparison.columns
        ],
        "curve_grid": list(comparison.curve_grid),
        "notes": comparison.notes,
    }
