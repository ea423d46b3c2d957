"""The benchmark's figure: region quality against bytes, and when regions are final, per set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attention_center.core.atomic import atomic_path
from benchmarks.progressive.report import complete_images, needed, set_names

__all__ = ["plot"]


def plot(
    images: list[dict], strategies: list[str], sides: list[int], path: Path, threshold: float
) -> None:
    """One row per held-out set: mean PSNR of the headline region vs bytes, then per side the
    share of images whose region is final by a given fraction of the file. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = set_names(images)
    groups = [("all sets", images)] + (
        [(name, [i for i in images if i["source"] == name]) for name in sets]
        if len(sets) > 1
        else []
    )
    fig, axes = plt.subplots(
        len(groups),
        1 + len(sides),
        figsize=(5.2 * (1 + len(sides)), 4.0 * len(groups)),
        squeeze=False,
    )
    primary = str(sides[0])
    colors = {s: f"C{k}" for k, s in enumerate(strategies)}
    for row, (name, members) in zip(axes, groups):
        members = complete_images(members, strategies)
        quality_axis, cdf_axes = row[0], row[1:]
        for strategy in strategies:
            rows = [i for i in members if i["results"].get(strategy) is not None]
            if not rows:
                continue
            grid = np.array(rows[0]["results"][strategy]["grid"]) * 100
            curves = np.array(
                [
                    [
                        60.0 if v is None else min(v, 60.0)
                        for v in i["results"][strategy]["regions"][primary]["psnr"]
                    ]
                    for i in rows
                ]
            )
            quality_axis.plot(
                grid, curves.mean(axis=0), marker=".", label=strategy, color=colors[strategy]
            )
            for axis, side in zip(cdf_axes, sides):
                values = np.sort([needed(i, strategy, side) for i in rows]) * 100
                share = np.arange(1, len(values) + 1) / len(values) * 100
                axis.step(
                    np.concatenate([[0], values, [100]]),
                    np.concatenate([[0], share, [100]]),
                    where="post",
                    label=strategy,
                    color=colors[strategy],
                )
        quality_axis.axhline(threshold, color="gray", lw=0.8, ls="--")
        quality_axis.set(
            xlabel="bytes received (% of file)",
            ylabel="PSNR vs final decode (dB, capped at 60)",
            title=f"{name} ({len(members)} images)\nmean quality of the {primary}x{primary} region",
        )
        for axis, side in zip(cdf_axes, sides):
            axis.set(
                xlabel="bytes received (% of file)",
                ylabel="images (%)",
                title=f"{name}\n{side}x{side} region final (>= {threshold:g} dB)",
            )
        for axis in row:
            axis.grid(alpha=0.3)
            axis.legend(fontsize=7, loc="lower right" if axis is not quality_axis else "upper left")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as temporary:
        fig.savefig(temporary, dpi=80, format="png")
    plt.close(fig)
