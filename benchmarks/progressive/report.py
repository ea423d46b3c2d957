"""Summaries and tables of the progressive benchmark: per held-out set, with distance shares.

A strategy's figure on an image is the fraction of the file needed before the region is
final (``results[strategy]["regions"][side]["fraction_needed"]``; lower is better). Every
row of a set is averaged over the same images: those measured under every strategy that
ran at all. Distance shares: how much of the way from the scanline order to a bound a
strategy goes, ``(default - strategy) / (default - bound)`` on the means, for the oracle
and for the ground-truth centre as bounds.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from benchmarks.progressive.strategies import LABELS

__all__ = [
    "complete_images",
    "headline",
    "model_check",
    "needed",
    "paired",
    "set_names",
    "side_by_side",
    "summarize",
    "table_markdown",
]


def needed(image: dict, strategy: str, side) -> Optional[float]:
    """Fraction of the file an image needed under a strategy for a region side (None: not run)."""
    result = image["results"].get(strategy)
    return None if result is None else result["regions"][str(side)]["fraction_needed"]


def present(images: list[dict], strategies: list[str]) -> list[str]:
    """The strategies measured on at least one image."""
    return [s for s in strategies if any(i["results"].get(s) for i in images)]


def complete_images(images: list[dict], strategies: list[str]) -> list[dict]:
    """Images measured under every strategy that ran at all."""
    ran = present(images, strategies)
    return [i for i in images if all(i["results"].get(s) for s in ran)]


def set_names(images: list[dict]) -> list[str]:
    """The held-out sets (record sources) in first-seen order."""
    return list(dict.fromkeys(i["source"] for i in images))


#: A distance (fraction of the file) too small for a share to mean anything.
MIN_GAP = 0.005


def _share(base: float, value: float, bound: float) -> Optional[float]:
    gap = base - bound
    return None if abs(gap) < MIN_GAP else (base - value) / gap


def summarize_one(images: list[dict], strategies: list[str], sides: list[int]) -> dict:
    """strategy -> {"images", "mean_kb", "<side>": {"mean", "median", "share_oracle",
    "share_truth"}} over the complete images (``None`` for strategies that did not run)."""
    rows = complete_images(images, strategies)
    ran = present(images, strategies)
    table: dict = {"images": len(rows), "left_out": len(images) - len(rows)}
    for strategy in strategies:
        if strategy not in ran or not rows:
            table[strategy] = None
            continue
        entry = {
            "images": len(rows),
            "mean_kb": float(np.mean([i["results"][strategy]["bytes"] for i in rows])) / 1e3,
        }
        for side in sides:
            values = [needed(i, strategy, side) for i in rows]
            entry[str(side)] = {"mean": float(np.mean(values)), "median": float(np.median(values))}
        table[strategy] = entry
    for strategy in ran:
        if table.get(strategy) is None:
            continue
        for side in sides:
            key = str(side)
            stats = table[strategy][key]
            base = table.get("default")
            for bound in ("oracle", "truth"):
                bound_entry = table.get(bound)
                stats[f"share_{bound}"] = (
                    _share(base[key]["mean"], stats["mean"], bound_entry[key]["mean"])
                    if base and bound_entry
                    else None
                )
    return table


#: Sets pooled into one more row when at least two of them are present.
POOLS = {"eye-tracked photos (osie_eye + scene_eye)": ("osie_eye", "scene_eye")}


def summarize(
    images: list[dict], strategies: list[str], sides: list[int], pools: dict = POOLS
) -> dict:
    """``{"all": summary, <pool>: summary, <set>: summary, ...}`` (see :func:`summarize_one`)."""
    out = {"all": summarize_one(images, strategies, sides)}
    names = set_names(images)
    for pool, members in pools.items():
        if sum(m in names for m in members) >= 2:
            out[pool] = summarize_one(
                [i for i in images if i["source"] in members], strategies, sides
            )
    for name in names:
        out[name] = summarize_one([i for i in images if i["source"] == name], strategies, sides)
    return out


def paired(images, a: str, b: str, side) -> tuple[int, int, int]:
    """(a earlier, within 1 % of the file, b earlier) over images that have both."""
    wins = ties = losses = 0
    for image in images:
        fa, fb = needed(image, a, side), needed(image, b, side)
        if fa is None or fb is None:
            continue
        if abs(fa - fb) <= 0.01:
            ties += 1
        elif fa < fb:
            wins += 1
        else:
            losses += 1
    return wins, ties, losses


def _pct(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.0%}"


def table_markdown(summary: dict, strategies: list[str], sides: list[int]) -> str:
    """One markdown table of one set's summary."""
    head, rule = "| strategy | images |", "|---|---:|"
    for side in sides:
        head += (
            f" {side}x{side}: mean | median | vs default | share of scanline->oracle |"
            " share of scanline->truth |"
        )
        rule += "---:|---:|---:|---:|---:|"
    lines = [head + " mean file (kB) |", rule + "---:|"]
    base = summary.get("default")
    for strategy in strategies:
        row = summary.get(strategy)
        name = f"{strategy}: {LABELS.get(strategy, '')}"
        if row is None:
            lines.append(f"| {name} | missing |" + " |" * (5 * len(sides) + 1))
            continue
        cells = f"| {name} | {row['images']} |"
        for side in sides:
            stats = row[str(side)]
            versus = f"{stats['mean'] / base[str(side)]['mean']:.2f}x" if base else ""
            cells += (
                f" {stats['mean']:.1%} | {stats['median']:.1%} | {versus} |"
                f" {_pct(stats.get('share_oracle'))} | {_pct(stats.get('share_truth'))} |"
            )
        lines.append(cells + f" {row['mean_kb']:.1f} |")
    return "\n".join(lines) + "\n"


def sets_markdown(summary: dict, strategies: list[str], side: int) -> str:
    """One row per set: each strategy's mean at one side, with the share of scanline->truth."""
    ran = [s for s in strategies if summary["all"].get(s)]
    head = (
        "| set | images | " + " | ".join(ran) + " | ours: share of scanline->truth | "
        "chosen: share of scanline->truth | chosen: share of scanline->oracle |"
    )
    lines = [head, "|---|---:|" + "---:|" * (len(ran) + 3)]
    for name, table in summary.items():
        if not table.get("images"):
            continue
        cells = [f"{table[s][str(side)]['mean']:.1%}" if table.get(s) else "-" for s in ran]
        shares = []
        for strategy, bound in (("ours", "truth"), ("chosen", "truth"), ("chosen", "oracle")):
            entry = table.get(strategy)
            shares.append(_pct(entry[str(side)].get(f"share_{bound}")) if entry else "-")
        lines.append(
            f"| {name} | {table['images']} | "
            + " | ".join(cells)
            + " | "
            + " | ".join(shares)
            + " |"
        )
    return "\n".join(lines) + "\n"


def model_check(images: list[dict]) -> dict:
    """How well the group model predicts the measured figure (256x256, truth and oracle).

    Returns ``{"files_checked", "orders_agree", "truth_mean_abs", "oracle_mean_abs", "n"}``:
    files whose measured group order matched the model, and the mean absolute difference
    (fraction of the file) between the predicted and the measured bytes until final.
    """
    files = agree = 0
    diffs = {"truth": [], "oracle": []}
    for image in images:
        groups = image.get("groups") or {}
        if "orders_agree" in groups:
            files += len(groups["orders_agree"])
            agree += sum(bool(v) for v in groups["orders_agree"])
        oracle = image.get("oracle")
        if not oracle:
            continue
        for strategy, key in (("truth", "truth_bytes"), ("oracle", "predicted_bytes")):
            result = image["results"].get(strategy)
            if result:
                diffs[strategy].append(
                    abs(oracle[key] / result["bytes"] - result["regions"]["256"]["fraction_needed"])
                )
    return {
        "files_checked": files,
        "orders_agree": agree,
        "truth_mean_abs": float(np.mean(diffs["truth"])) if diffs["truth"] else None,
        "oracle_mean_abs": float(np.mean(diffs["oracle"])) if diffs["oracle"] else None,
        "n": len(diffs["truth"]),
    }


def headline(summary: dict, images: list[dict], models: dict, side) -> str:
    """Our figure, Google's and their ratio, in one sentence (or why not)."""
    ours, google = summary.get("ours"), summary.get("google")
    key = str(side)
    if ours and google:
        wins, ties, losses = paired(complete_images(images, list(summary)), "ours", "google", side)
        return (
            f"Ours: {ours[key]['mean']:.1%} of the file on average before the "
            f"{side}x{side} region people look at first is final; Google's: "
            f"{google[key]['mean']:.1%}; ratio ours / Google = "
            f"{ours[key]['mean'] / google[key]['mean']:.3f} (per image: ours earlier on "
            f"{wins}, within 1 % of the file on {ties}, later on {losses})."
        )
    if google:
        return (
            f"Google's centre: {google[key]['mean']:.1%} of the file on average before the "
            f"{side}x{side} region people look at first is final. Ours: not measured "
            f"({models['ours']})."
        )
    if ours:
        return (
            f"Ours: {ours[key]['mean']:.1%} of the file on average before the "
            f"{side}x{side} region people look at first is final. Google's: not measured "
            f"({models['google']})."
        )
    return "Neither model was measured."


def side_by_side(summary: dict, images: list[dict], models: dict, sides) -> str:
    """The project's figure next to the anchor's (Google), with the ratio, one line per region."""
    ours, google = summary.get("ours"), summary.get("google")
    rows = complete_images(images, [k for k in summary if k in LABELS])
    lines = [
        "Fraction of the file received before the region around the ground-truth centre "
        "is final (mean over images; lower is better):",
        f"  {'region':>9}  {'ours':>7}  {'Google':>7}  {'ours/Google':>11}  "
        "per image: ours earlier / within 1 % / later",
    ]
    for side in sides:
        key = str(side)
        a = f"{ours[key]['mean']:.1%}" if ours else "-"
        b = f"{google[key]['mean']:.1%}" if google else "-"
        ratio, pairs = "-", ""
        if ours and google:
            ratio = f"{ours[key]['mean'] / google[key]['mean']:.3f}"
            pairs = " / ".join(str(v) for v in paired(rows, "ours", "google", side))
        lines.append(f"  {side:>4}x{side:<4}  {a:>7}  {b:>7}  {ratio:>11}  {pairs}")
    chosen = summary.get("chosen")
    if chosen:
        lines.append(
            "  chosen centre: "
            + ", ".join(f"{side}x{side} {chosen[str(side)]['mean']:.1%}" for side in sides)
        )
    lines.append(f"  ours: {models['ours']}")
    lines.append(f"  Google: {models['google']}")
    return "\n".join(lines)
