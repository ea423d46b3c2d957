"""The compare page's HTML: one self-contained string from a ``Comparison``.

Every picture is a ``data:`` URI: the partial ``.jxl`` in a ``<picture>`` ``<source
type="image/jxl">`` and djxl's PNG of the same bytes in the ``<img>`` (the fallback for
browsers without JPEG XL); overlays and the quality curve are inline SVG; the fixations
toggle is a checkbox and CSS; one small script only reports which of the two the browser
shows.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Optional

import numpy as np

from attention_center.core.atomic import atomic_write_json, atomic_write_text
from attention_center.jxl.compare_page import (
    COLORS,
    Cell,
    Column,
    Comparison,
    png_bytes,
    summary_json,
)

__all__ = ["render_html", "write_page"]


def _data_uri(kind: str, data: bytes) -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _placeholder_png(hw) -> bytes:
    return png_bytes(np.full((int(hw[0]), int(hw[1]), 3), 224, np.uint8))


def _overlay(comparison: Comparison, column: Optional[Column]) -> str:
    """SVG over a picture: the region box, the column's centre, the fixations (toggled)."""
    h, w = comparison.image_hw
    top, left, bottom, right = comparison.region
    parts = [
        f'<svg class="overlay" viewBox="0 0 {w} {h}" preserveAspectRatio="none" '
        f'aria-hidden="true">',
        f'<rect class="region" x="{left}" y="{top}" width="{right - left}" '
        f'height="{bottom - top}"/>',
    ]
    if comparison.fixations is not None:
        radius = max(4.0, 0.008 * math.hypot(h, w))
        circles = "".join(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}"/>' for x, y in comparison.fixations
        )
        parts.append(f'<g class="fixations">{circles}</g>')
    if column is not None and column.center is not None:
        x, y = column.center
        size = max(8.0, 0.02 * math.hypot(h, w))
        if column.predicted is not None:  # the predicted centre, when encoded elsewhere
            px, py = column.predicted
            parts.append(
                f'<line class="moved" x1="{px:.1f}" y1="{py:.1f}" x2="{x:.1f}" y2="{y:.1f}"/>'
                f'<circle class="predicted" cx="{px:.1f}" cy="{py:.1f}" r="{size * 0.7:.1f}"/>'
            )
        parts.append(
            f'<path class="centre" d="M{x - size:.1f},{y:.1f}H{x + size:.1f}'
            f'M{x:.1f},{y - size:.1f}V{y + size:.1f}"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _curve_svg(comparison: Comparison, human: bool = False) -> str:
    """Region PSNR (capped at 60 dB), or with ``human`` the fixation-weighted SSIM (0-1),
    against bytes received, one polyline per column."""
    width, height, pad = 420, 300, 44
    cap = 1.0 if human else 60.0
    ticks = (
        [(k / 5, f"{k / 5:.1f}") for k in range(6)]
        if human
        else [(k * 10, str(k * 10)) for k in range(7)]
    )
    ylabel = "SSIM where people look vs final" if human else "region PSNR vs final (dB)"

    def xy(fraction, value):
        value = cap if value is None else min(float(value), cap)
        return (
            pad + fraction * (width - 1.5 * pad),
            height - pad - value / cap * (height - 1.5 * pad),
        )

    parts = [
        f'<svg class="curve" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="region quality against bytes received">'
    ]
    for value, text in ticks:
        _, y = xy(0, value)
        parts.append(
            f'<line class="grid" x1="{pad}" x2="{width - pad / 2}" y1="{y:.1f}" '
            f'y2="{y:.1f}"/><text x="{pad - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{text}</text>'
        )
    for k in range(0, 11, 2):
        x, _ = xy(k / 10, 0)
        parts.append(
            f'<text x="{x:.1f}" y="{height - pad + 16}" text-anchor="middle">{k * 10}%</text>'
        )
    for fraction in comparison.budgets:
        x, _ = xy(fraction, 0)
        parts.append(
            f'<line class="budget" x1="{x:.1f}" x2="{x:.1f}" y1="{pad / 2}" y2="{height - pad}"/>'
        )
    for k, column in enumerate(comparison.columns):
        values = column.human_curve if human else column.curve
        points = " ".join(
            "{:.1f},{:.1f}".format(*xy(f, v)) for f, v in zip(comparison.curve_grid, values)
        )
        color = COLORS[k % len(COLORS)]
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" '
            f'points="{points}"><title>{html.escape(column.label)}</title></polyline>'
        )
        key = column.key + (
            f" (area {column.human_auc:.3f})" if human and column.human_auc is not None else ""
        )
        label_y = (
            height - pad - 8 - 14 * (len(comparison.columns) - k - 1)
            if human
            else pad / 2 + 14 * (k + 1)
        )
        parts.append(
            f'<text x="{width - pad / 2}" y="{label_y}" '
            f'text-anchor="end" fill="{color}">{html.escape(key)}</text>'
        )
    parts.append(
        f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle">bytes received '
        f'(% of each file)</text><text x="12" y="{height / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {height / 2})">{ylabel}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}
.layout{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap}
table.grid{border-collapse:collapse}
table.grid td,table.grid th{padding:4px 6px;vertical-align:top;text-align:left}
figure{margin:0;position:relative;display:inline-block;line-height:0}
figure img{display:block;width:var(--cell);height:auto;background:#ddd}
figcaption{line-height:1.3;font-size:12px;color:#444;max-width:var(--cell);padding-top:3px}
.overlay{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none}
.overlay .region{fill:none;stroke:#ffd400;stroke-width:3;stroke-dasharray:10 6}
.overlay .centre{stroke:#fff;stroke-width:4}
.overlay .predicted{fill:none;stroke:#ff3df5;stroke-width:3}
.overlay .moved{stroke:#ff3df5;stroke-width:2;stroke-dasharray:6 4}
.browser-note{font-style:italic}
.overlay .fixations{display:none}
.overlay .fixations circle{fill:rgba(0,200,255,.55);stroke:#003;stroke-width:1.5}
#show-fixations:checked ~ .layout .overlay .fixations{display:inline}
#show-region:not(:checked) ~ .layout .overlay .region{display:none}
.curve{width:420px;background:#fff;border:1px solid #ddd}
.curve text{font-size:11px;fill:#444}
.curve .grid{stroke:#eee}.curve .budget{stroke:#bbb;stroke-dasharray:4 4}
.note{color:#666;font-size:12px}
code{font-size:12px}
"""


def _figure(
    comparison: Comparison,
    column: Optional[Column],
    cell: Optional[Cell],
    image_id: str,
    caption: str,
    placeholder: bytes,
) -> str:
    h, w = comparison.image_hw
    if cell is None:
        picture = (
            f'<img id="{image_id}" data-kind="full" width="{w}" height="{h}" '
            f'src="{_data_uri("image/png", comparison.full_png)}" alt="whole file">'
        )
    else:
        fallback = cell.png if cell.png is not None else placeholder
        picture = (
            f'<picture><source type="image/jxl" srcset="{_data_uri("image/jxl", cell.jxl)}">'
            f'<img id="{image_id}" data-kind="partial" data-bytes="{cell.n_bytes}" '
            f'width="{w}" height="{h}" src="{_data_uri("image/png", fallback)}" '
            f'alt="{html.escape(column.key)} after {cell.n_bytes} bytes"></picture>'
        )
    return (
        f"<figure>{picture}{_overlay(comparison, column)}</figure>"
        f"<figcaption>{caption}</figcaption>"
    )


def render_html(comparison: Comparison, cell_px: int = 300) -> str:
    """The page, as one HTML string (every image inline)."""
    h, w = comparison.image_hw
    name = Path(comparison.source).name
    placeholder = _placeholder_png((h, w))
    head = (
        "<tr><th></th>"
        + "".join(
            f'<th style="color:{COLORS[k % len(COLORS)]}">{html.escape(c.key)}: '
            f'{html.escape(c.label)}<br><span class="note">{c.file_bytes / 1e3:.1f} kB, '
            f"<code>{html.escape(' '.join(c.flags) or '(default order)')}</code>"
            + (f"<br>{html.escape(c.center_note)}" if c.center_note else "")
            + (
                f"<br>area under the looked-at SSIM curve: {c.human_auc:.3f}"
                if c.human_auc is not None
                else ""
            )
            + "</span></th>"
            for k, c in enumerate(comparison.columns)
        )
        + "</tr>"
    )
    rows = []
    for b, fraction in enumerate(comparison.budgets):
        cells = []
        for k, column in enumerate(comparison.columns):
            cell = column.cells[b]
            # What is drawn: the partial .jxl (a JPEG XL browser) or djxl's PNG of it.
            quality = (
                "identical to the final image"
                if math.isinf(cell.region_psnr)
                else "djxl decodes nothing from these bytes yet (grey fallback)"
                f'<span class="browser-note" data-for="img-{b}-{k}"></span>'
                if cell.png is None
                else f"region {cell.region_psnr:.1f} dB (djxl's decode of these bytes)"
            )
            caption = (
                f"{cell.n_bytes / 1e3:.1f} kB of {column.file_bytes / 1e3:.1f} kB "
                f"({fraction:.0%}): {quality}"
            )
            cells.append(
                "<td>"
                + _figure(comparison, column, cell, f"img-{b}-{k}", caption, placeholder)
                + "</td>"
            )
        rows.append(
            f"<tr><th>{fraction:.0%}<br><span class='note'>of the file</span></th>"
            + "".join(cells)
            + "</tr>"
        )
    human = comparison.fixations is not None
    toggle = (
        '<input type="checkbox" id="show-fixations"><label for="show-fixations"> show '
        f"human first fixations ({len(comparison.fixations)} points)</label> "
        if human
        else '<input type="checkbox" id="show-fixations" disabled>'
        '<label for="show-fixations" class="note"> no human fixations for this image'
        "</label> "
    )
    region_toggle = (
        '<input type="checkbox" id="show-region" checked><label for="show-region">'
        f" show the looked-at region ({html.escape(comparison.region_label)})"
        "</label>"
    )
    flags = " ".join(comparison.extra_flags) or "none"
    human_curve = (
        '<h2 style="font-size:16px;margin:12px 0 6px">Where people look, against bytes</h2>'
        + _curve_svg(comparison, human=True)
        + '<p class="note">SSIM (luma) of djxl\'s decode against the final image, weighted '
        "by the human fixation density of this image (attention_center.jxl.quality); "
        "1 = final; area: the mean over 0-100 % of the file.</p>"
        if any(c.human_curve for c in comparison.columns)
        else ""
    )
    side_h = comparison.region[2] - comparison.region[0]
    side_w = comparison.region[3] - comparison.region[1]
    notes = list(comparison.notes)
    if any(
        f.startswith("--progressive_dc") and not f.endswith("=0") for f in comparison.extra_flags
    ):
        notes.append(
            "With --progressive_dc a browser (Chromium) draws a blurry preview from "
            "the first few percent of a file; djxl 0.7 does not until the whole DC "
            "frame is in, so the PNG fallback and the quality curve stay empty "
            "longer than what a JPEG XL browser shows."
        )
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes)
    # The browser says what it draws: where djxl decodes nothing, a JPEG XL browser may
    # still paint the --progressive_dc preview (non-JPEG inputs) or nothing (JPEG inputs,
    # whose lossless transcoding ignores the flag); the caption is filled from the pixels.
    script = (
        "<script>addEventListener('load',()=>{const i=document.querySelector("
        "'img[data-kind=partial]');const e=document.getElementById('shown');if(!i||!e)"
        "return;const j=i.currentSrc.startsWith('data:image/jxl');e.textContent=j?"
        "'the partial .jxl files themselves (this browser decodes JPEG XL)':'PNG renders "
        "of the partial files by djxl (this browser does not decode JPEG XL)';if(!j)return;"
        "document.querySelectorAll('.browser-note').forEach(n=>{const m=document."
        "getElementById(n.dataset.for);const c=document.createElement('canvas');c.width=64;"
        "c.height=64;const x=c.getContext('2d');let painted=0;try{x.drawImage(m,0,0,64,64);"
        "const d=x.getImageData(0,0,64,64).data;for(let k=3;k<d.length;k+=4)"
        "if(d[k]>0)painted++;}catch(err){return;}n.textContent=painted>2048?"
        "'; this browser draws them itself (the --progressive_dc preview, which djxl 0.7 "
        "does not draw)':'; this browser draws nothing from them either';});});</script>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Progressive JPEG XL: {html.escape(name)}</title>
<style>:root{{--cell:{int(cell_px)}px}}{STYLE}</style></head>
<body>
<h1>{html.escape(name)}: what arrives first</h1>
<p>{w}x{h} pixels. Each column is one file, encoded by <code>cjxl</code> with a different
group order; each row shows the same share of every file, as a slow connection delivers it.
Showing: <span id="shown">the partial .jxl files where the browser decodes JPEG XL, else
PNG renders of them by djxl</span>. Extra cjxl flags for every file:
<code>{html.escape(flags)}</code>.</p>
{toggle}{region_toggle}
<div class="layout">
<table class="grid">{head}{"".join(rows)}</table>
<div><h2 style="font-size:16px;margin:0 0 6px">Looked-at region against bytes</h2>
{_curve_svg(comparison)}
<p class="note">PSNR of the {side_h}x{side_w}
region ({html.escape(comparison.region_label)}) against the whole file's decode, by djxl;
60 dB and above = final. Dashed: the budgets shown.</p>
{human_curve}
<h2 style="font-size:16px;margin:12px 0 6px">The whole file</h2>
{_figure(comparison, None, None, "img-full", "every column ends here", placeholder)}
</div></div>
{notes}
<p class="note">Made by <code>attention-center compare</code>. Crosses: the point each
file was encoded around (<code>--center_x/--center_y</code>); pink ring joined to a cross:
the predicted centre, where the file was encoded around another point for it (the column's
title says why); yellow box: the looked-at region; blue dots (toggle): the human first
fixations.</p>
{script}
</body></html>
"""


def write_page(comparison: Comparison, out_dir, cell_px: int = 300) -> Path:
    """Writes ``out_dir/index.html`` (self-contained) and ``out_dir/compare.json``, atomically."""
    out_dir = Path(out_dir)
    page = atomic_write_text(out_dir / "index.html", render_html(comparison, cell_px))
    atomic_write_json(out_dir / "compare.json", summary_json(comparison))
    return page
