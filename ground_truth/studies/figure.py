"""The picture in the docs: points kept and dropped by each filter, and the centre.

``python -m ground_truth figure --data_dir ../shared/data --out docs/img/ground_truth_filters.png``
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ground_truth import filters as F
from ground_truth.readers import read_source

__all__ = ["plot_record", "filters_figure", "DEFAULT_PANELS"]

#: (source, image_id) shown by default.
DEFAULT_PANELS = (
    ("osie_eye", "osie/1001"),
    ("scene_eye", "scene/021"),
    ("osie_mouse_lab", "osie/1009"),
    ("salicon_mouse", "salicon/COCO_train2014_000000123855"),
)


def plot_record(ax, record, temporal=None, spatial=None, max_dropped: int = 4000) -> None:
    """Draws one record on a matplotlib axis: image, points by fate, centre.

    Blue dots: dropped by the temporal filter (not initial); red crosses:
    dropped by the spatial filter (strays); green dots: kept; yellow star: the
    centre (mean of the kept points); white plus: the image's middle.
    """
    from PIL import Image

    t, s = F.params_for(record)
    t, s = temporal or t, spatial or s
    padded = F.pad_records([record])
    result = F.filter_and_center(padded, t, s)
    pts = padded.points[0]
    valid = padded.usable_mask()[0]
    temporal_drop = pts[valid & ~result.temporal[0]]
    spatial_drop = pts[result.temporal[0] & ~result.spatial[0]]
    kept = pts[result.spatial[0]]
    if len(temporal_drop) > max_dropped:
        temporal_drop = temporal_drop[
            np.random.default_rng(0).choice(len(temporal_drop), max_dropped, replace=False)
        ]
    with Image.open(record.image_path) as image:
        ax.imshow(np.asarray(image.convert("RGB")))
    ax.scatter(
        *temporal_drop.T,
        s=5,
        c="deepskyblue",
        alpha=0.6,
        lw=0,
        label=f"not initial ({int((valid & ~result.temporal[0]).sum())})",
    )
    ax.scatter(
        *spatial_drop.T, s=22, c="red", marker="x", lw=1.2, label=f"stray ({len(spatial_drop)})"
    )
    ax.scatter(*kept.T, s=9, c="lime", edgecolors="black", lw=0.3, label=f"kept ({len(kept)})")
    h, w = record.original_hw
    ax.scatter([(w - 1) / 2], [(h - 1) / 2], s=120, c="white", marker="+", lw=2)
    ax.scatter(
        *result.centers[0],
        s=320,
        c="yellow",
        marker="*",
        edgecolors="black",
        lw=1,
        label="centre",
        zorder=5,
    )
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    rule = (
        f"k={t.max_count}"
        + (f", T={t.max_onset_ms:g} ms" if t.max_onset_ms else "")
        + (", drop 1st" if t.drop_first else "")
        + (f", onset>={t.min_onset_ms:g} ms" if t.min_onset_ms else "")
    )
    ax.set_title(
        f"{record.source} {record.image_id}\n{record.num_observers} observers; {rule}; "
        f"cut {s.multiple}x median dist.",
        fontsize=8,
    )
    ax.legend(loc="lower left", fontsize=6, framealpha=0.8, markerscale=1.0)


def filters_figure(data_dir, out, panels: Sequence = DEFAULT_PANELS) -> Path:
    """Writes a 2 x 2 figure of :func:`plot_record` panels; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cache: dict = {}
    fig, axes = plt.subplots(2, (len(panels) + 1) // 2, figsize=(13, 9.5))
    for ax, (source, image_id) in zip(np.ravel(axes), panels):
        if source not in cache:
            cache[source] = {r.image_id: r for r in read_source(source, data_dir).records}
        plot_record(ax, cache[source][image_id])
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name("." + out.name + ".tmp.png")
    fig.savefig(tmp, dpi=72)
    plt.close(fig)
    tmp.replace(out)
    return out
