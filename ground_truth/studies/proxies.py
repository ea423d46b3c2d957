"""How good is each proxy? Mouse and click centres against the eye-tracking centre of the same
image.

``python -m ground_truth proxies --data_dir ../shared/data`` (``docs/proxies.md``).

For every pair of sources recorded on the same images (:data:`COMPARISONS`):
the *reference* centre of each image (eye tracking, with its default filters,
:func:`ground_truth.filters.params_for`) and the *proxy* centre (mouse or
clicks, its default spatial filter, the first ``k`` points for several ``k``),
compared on the images both have:

* ``mean_error`` / ``median_error``: distance between the two centres over the
  reference image's diagonal (:func:`attention_center.core.centers.normalized_center_errors`);
* ``same_group``: fraction of images where both centres fall in the same
  256x256 JPEG XL group of the reference image
  (:func:`~attention_center.core.centers.same_jxl_group`);
* ``num_images``.

Two rows frame them: the reference's own **split-half** consistency (its
observers split at random into two halves, ten times per image, each half's
centre the mean of its kept points, as
``attention_center.evaluation.baselines.split_half_consistency`` computes the
human ceiling; written here with core functions: :func:`split_half`) and the
**image centre** (the trivial prediction). A half-centre rests on half the
observers, so the split-half error is a conservative ceiling: a proxy whose
full centre lands as close to the eye centre as one half of the eye observers
lands to the other is as good as more eye tracking.

Images of different sizes (OSIE's 800x600 crowd mouse data on the 640x480
BubbleView copies) are compared in the reference image's pixels, mapped with
:func:`~attention_center.core.centers.normalized_centers` and
:func:`~attention_center.core.centers.centers_from_normalized`.

:data:`TRAINING_USE` is the recommendation drawn from the figures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Optional

import numpy as np

from attention_center.core.centers import (
    centers_from_normalized,
    image_centers,
    normalized_center_errors,
    normalized_centers,
    same_jxl_group,
    summarize_center_errors,
)
from attention_center.core.consistency import split_half_agreement, split_halves
from attention_center.core.density import density_map, sigma_for
from ground_truth import filters as F
from ground_truth.readers import ReadResult, read_source
from ground_truth.readers.bubbleview import FILES_BY_SOURCE, read_wall_clock
from ground_truth.readers.osie import osie_root, read_osie_mouse_file
from ground_truth.records import Record, RecordError
from ground_truth.training_use import TRAINING_USE

__all__ = [
    "Comparison",
    "COMPARISONS",
    "DEFAULT_COUNTS",
    "centers_of",
    "kept_points_of",
    "split_half",
    "split_half_density_cc",
    "density_cc",
    "skill",
    "in_reference_pixels",
    "compare_centers",
    "proxy_rows",
    "reliability_rows",
    "click_pace",
    "read_for_images",
    "proxies_markdown",
    "training_use_markdown",
    "measure_proxies",
    "summary",
]

#: Values of ``k`` (points per observer after the source's own drop; ``None`` = all).
DEFAULT_COUNTS: tuple[Optional[int], ...] = (1, 2, 3, 5, 10, 30, None)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Sources recorded on the same images: a reference and its proxies.

    Attributes:
      name: the image set (``"fiwi"``, ``"osie"``, ``"salicon"``).
      reference: the reference source (eye tracking where there is any).
      proxies: the sources compared with it.
      note: what the reader of the table must know.
    """

    name: str
    reference: str
    proxies: tuple[str, ...]
    note: str = ""


COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "fiwi",
        "fiwi_eye",
        tuple(f"fiwi_click_{t}x{r}" for t in (10, 30) for r in (30, 50, 70)) + ("fiwi_click_dx30",),
        "FiWI web pages, 51 screenshots: eye tracking (11 observers, 5 s) vs BubbleView clicks.",
    ),
    Comparison(
        "osie",
        "bv_osie_eye",
        ("bv_osie_mouse_lab", "osie_mouse_amt", "bv_osie_click_30x30", "bv_osie_mouse_mm30"),
        "OSIE, the 51 images of BubbleView's subset: eye tracking (15 observers) vs "
        "SALICON-style mouse (lab, crowd), BubbleView clicks and mouse movements.",
    ),
    Comparison(
        "salicon",
        "bv_salicon_mouse",
        tuple(f"bv_salicon_click_{b}x{r}" for b in (30, 50, 70) for r in (30, 50, 70))
        + ("bv_salicon_mouse_mm30", "bv_salicon_mouse_mm50"),
        "SALICON subset, 51 COCO images: there is NO eye tracking for these images, so "
        "the reference is SALICON's own crowd mouse data (52 - 65 observers); the rows "
        "say how well clicks reproduce the mouse centre, not the eye centre.",
    ),
)


def _params(records: Sequence[Record], temporal=None, spatial=None):
    t, s = F.params_for(records[0])
    return (t if temporal is None else temporal), (s if spatial is None else spatial)


def _filtered(records: Sequence[Record], temporal=None, spatial=None):
    """``(padded, FilterResult)`` of records of one source (defaults unless given)."""
    t, s = _params(records, temporal, spatial)
    padded = F.pad_records(records, max_points=t.points_needed)
    return padded, F.filter_and_center(padded, t, s)


def centers_of(
    records: Sequence[Record],
    temporal: Optional[F.TemporalParams] = None,
    spatial: Optional[F.SpatialParams] = None,
) -> np.ndarray:
    """Centres ``float64 [N, 2]`` (x, y), each record's original pixels, as the builder makes them.

    ``temporal``/``spatial`` default to :func:`ground_truth.filters.params_for` of
    the first record (pass records of one source).
    """
    return kept_points_of(records, temporal, spatial)[0]


def kept_points_of(
    records: Sequence[Record],
    temporal: Optional[F.TemporalParams] = None,
    spatial: Optional[F.SpatialParams] = None,
):
    """``(centers float64 [N, 2], kept)``: the centres and, per record, the
    ``float64 [n, 2]`` (x, y) points both filters kept (the density target's points)."""
    if not records:
        return np.zeros((0, 2)), []
    padded, result = _filtered(records, temporal, spatial)
    kept = [padded.points[b][result.spatial[b]] for b in range(len(records))]
    return result.centers, kept


def _halves(records, num_splits, seed, temporal, spatial):
    """Per record with two or more observers with kept points:
    ``(b, points [O, P, 2], keep bool [O, P], half_a bool [S, O])``."""
    if not records:
        return
    padded, result = _filtered(records, temporal, spatial)
    for b, record in enumerate(records):
        keep = result.spatial[b]
        observers = np.flatnonzero(keep.any(axis=1))
        if len(observers) < 2:
            continue
        half_a = np.zeros((num_splits, keep.shape[0]), bool)
        half_a[:, observers] = split_halves(len(observers), record.image_id, num_splits, seed)
        yield b, padded.points[b], keep, half_a


def split_half(
    records: Sequence[Record],
    num_splits: int = 10,
    seed: int = 0,
    temporal: Optional[F.TemporalParams] = None,
    spatial: Optional[F.SpatialParams] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split-half consistency of each record's centre.

    The record is filtered once, as the builder does (temporal, then spatial
    filter over all observers). The observers with a kept point are split at
    random into two halves (``n // 2`` and the rest) ``num_splits`` times,
    seeded by :func:`attention_center.core.consistency.split_rng`; each half's centre is the mean
    of its kept
    points (:func:`~attention_center.core.centers.centers_from_keep`). Per
    split: the distance between the two half-centres over the image diagonal
    and whether they fall in the same JPEG XL group; each averaged over splits.

    Returns:
      ``(errors float64 [N], same_group float64 [N])``; NaN where a record has
      fewer than two observers with kept points.
    """
    errors = np.full(len(records), np.nan)
    same = np.full(len(records), np.nan)
    if not records:
        return errors, same
    padded, result = _filtered(records, temporal, spatial)
    for b, record in enumerate(records):
        keep = result.spatial[b]
        errors[b], same[b] = split_half_agreement(
            padded.points[b][keep],
            np.nonzero(keep)[0],
            record.original_hw,
            record.image_id,
            num_splits,
            seed,
        )
    return errors, same


#: Density maps for :func:`density_cc` have this many pixels along the image's longer side.
MAP_LONG_SIDE = 64


def density_cc(points_a, points_b, hw) -> float:
    """Pearson correlation of the density maps of two point sets on one image.

    Args:
      points_a, points_b: ``[n, 2]`` (x, y) 0-based pixels of an image of size ``hw`` ``(h, w)``.
    Returns:
      CC in [-1, 1] of :func:`attention_center.core.density.density_map` of each,
      on a map ``MAP_LONG_SIDE`` pixels along the longer side, sigma
      :func:`~attention_center.core.density.sigma_for` (one degree); NaN when a set is empty.
    """
    h, w = float(hw[0]), float(hw[1])
    scale = MAP_LONG_SIDE / max(h, w)
    map_hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    maps = []
    for points in (points_a, points_b):
        points = np.asarray(points, np.float64).reshape(-1, 2)
        if len(points) == 0:
            return float("nan")
        maps.append(density_map((points + 0.5) * scale - 0.5, map_hw, sigma_for(map_hw)).ravel())
    if maps[0].std() == 0 or maps[1].std() == 0:
        return float("nan")
    return float(np.corrcoef(maps[0], maps[1])[0, 1])


def split_half_density_cc(
    records: Sequence[Record], num_splits: int = 10, seed: int = 0, temporal=None, spatial=None
) -> np.ndarray:
    """Per record, the mean over the :func:`split_half` splits (the same halves) of the
    :func:`density_cc` of the two halves' kept points: ``float64 [N]`` (NaN: < 2 observers)."""
    cc = np.full(len(records), np.nan)
    for b, points, keep, half_a in _halves(records, num_splits, seed, temporal, spatial):
        hw = records[b].original_hw
        cc[b] = np.nanmean(
            [
                density_cc(points[keep & half[:, None]], points[keep & ~half[:, None]], hw)
                for half in half_a
            ]
        )
    return cc


def in_reference_pixels(centers, from_hw, to_hw) -> np.ndarray:
    """Centres ``[N, 2]`` (x, y) in images of sizes ``from_hw`` ``[N, 2]`` moved to the same
    pictures at ``to_hw`` ``[N, 2]`` (``(h, w)``), keeping their fractions of the image."""
    return centers_from_normalized(normalized_centers(centers, from_hw), to_hw)


def summary(errors, same_group) -> dict:
    """:func:`~attention_center.core.centers.summarize_center_errors` plus
    ``sem_error``: the standard error of ``mean_error`` (``std / sqrt(n)``)."""
    out = summarize_center_errors(errors, same_group)
    errors = np.asarray(errors, np.float64)
    errors = errors[np.isfinite(errors)]
    out["sem_error"] = (
        float(errors.std(ddof=1) / np.sqrt(len(errors))) if len(errors) > 1 else float("nan")
    )
    return out


def compare_centers(reference_centers, reference_hw, proxy_centers, proxy_hw) -> dict:
    """Summary of proxy vs reference centres of the same ``N`` images.

    Args:
      reference_centers, proxy_centers: ``[N, 2]`` (x, y), each in its own image's pixels.
      reference_hw, proxy_hw: ``[N, 2]`` (h, w).
    Returns:
      :func:`summary` of the errors over the reference diagonal and the
      same-group flags, in the reference image's pixels.
    """
    reference_hw = np.asarray(reference_hw, np.float64).reshape(-1, 2)
    moved = in_reference_pixels(proxy_centers, proxy_hw, reference_hw)
    errors = normalized_center_errors(moved, reference_centers, reference_hw)
    return summary(errors, same_jxl_group(moved, reference_centers))


def _counts_label(k: Optional[int]) -> str:
    return "all" if k is None else str(k)


def skill(error: float, centre_error: float, ceiling_error: float) -> float:
    """How far a proxy goes from the image-centre baseline towards the eye ceiling.

    ``(centre_error - error) / (centre_error - ceiling_error)`` with mean
    errors: 0 = no better than predicting the image centre, 1 = as close to the
    eye centre as one half of the eye observers is to the other half.
    """
    span = centre_error - ceiling_error
    return float((centre_error - error) / span) if span > 0 else float("nan")


def proxy_rows(
    comparison: Comparison,
    results: dict[str, ReadResult],
    counts: Sequence[Optional[int]] = DEFAULT_COUNTS,
    num_splits: int = 10,
    seed: int = 0,
) -> list[dict]:
    """The table rows of one comparison.

    Args:
      comparison: the sources.
      results: read results by source name (those missing are left out).
      counts: values of ``k`` for the proxies (``max_count``; the source's own
        ``drop_first`` and spatial filter kept).
      num_splits, seed: for the reference's split-half.
    Returns:
      dicts with ``set``, ``reference``, ``proxy`` (``"<reference> split-half"``,
      ``"image centre"`` or a source), ``modality``, ``k`` (``None`` for the
      image centre; ``"all"``), ``default`` (this ``k`` is the source's
      default), ``mean_error``, ``median_error``, ``same_group``, ``num_images``
      (on the images both have), ``density_cc`` (mean :func:`density_cc` of the
      kept points; split-half: of the two halves) and ``skill`` (:func:`skill`).
    """
    reference = results[comparison.reference].records
    ref_t, _ = F.params_for(reference[0])
    base = {"set": comparison.name, "reference": comparison.reference}
    errors, same = split_half(reference, num_splits, seed)
    ceiling = {
        **base,
        "proxy": f"{comparison.reference} split-half",
        "modality": reference[0].modality,
        "k": _counts_label(ref_t.max_count),
        "default": True,
        **summary(errors, same),
        "density_cc": float(np.nanmean(split_half_density_cc(reference, num_splits, seed))),
    }
    ref_centers, ref_kept = kept_points_of(reference)
    ref_hw = np.array([r.original_hw for r in reference], np.float64)
    centre = {
        **base,
        "proxy": "image centre",
        "modality": "-",
        "k": None,
        "default": True,
        **compare_centers(ref_centers, ref_hw, image_centers(ref_hw), ref_hw),
        "density_cc": float("nan"),
    }
    rows = [ceiling, centre]
    ref_index = {r.image_id: i for i, r in enumerate(reference)}
    for name in comparison.proxies:
        proxies = (
            [r for r in results[name].records if r.image_id in ref_index] if name in results else []
        )
        if not proxies:
            continue
        index = [ref_index[r.image_id] for r in proxies]
        proxy_hw = np.array([r.original_hw for r in proxies], np.float64)
        base_t, base_s = F.params_for(proxies[0])
        for k in counts:
            temporal = dataclasses.replace(base_t, max_count=k)
            centers, kept = kept_points_of(proxies, temporal, base_s)
            cc = [
                density_cc(
                    in_reference_pixels(
                        points,
                        np.broadcast_to(hw, (len(points), 2)),
                        np.broadcast_to(ref_hw[i], (len(points), 2)),
                    ),
                    ref_kept[i],
                    ref_hw[i],
                )
                for points, hw, i in zip(kept, proxy_hw, index)
            ]
            rows.append(
                {
                    **base,
                    "proxy": name,
                    "modality": proxies[0].modality,
                    "k": _counts_label(k),
                    "default": k == base_t.max_count,
                    **compare_centers(ref_centers[index], ref_hw[index], centers, proxy_hw),
                    "density_cc": float(np.nanmean(cc)),
                }
            )
    for row in rows:
        row["skill"] = skill(row["mean_error"], centre["mean_error"], ceiling["mean_error"])
    return rows


def reliability_rows(
    results: dict[str, ReadResult], num_splits: int = 10, seed: int = 0
) -> list[dict]:
    """Per source, with its default filters: split-half consistency and distance from the middle.

    ``from_middle``: mean distance of the centre from the image's middle over
    the diagonal (a small split-half with a small ``from_middle`` is agreement
    that comes from the centre bias). For sources without a reference
    (MASSVIS, GDI) this is all there is.
    """
    rows = []
    for name, result in results.items():
        records = result.records
        if not records:
            continue
        errors, same = split_half(records, num_splits, seed)
        hw = np.array([r.original_hw for r in records], np.float64)
        middle = normalized_center_errors(centers_of(records), image_centers(hw), hw)
        t, _ = F.params_for(records[0])
        rows.append(
            {
                "source": name,
                "modality": records[0].modality,
                "k": _counts_label(t.max_count),
                "drop_first": t.drop_first,
                "observers_per_image": float(np.mean([r.num_observers for r in records])),
                "from_middle": float(np.mean(middle)),
                **summary(errors, same),
                "density_cc": float(np.nanmean(split_half_density_cc(records, num_splits, seed))),
            }
        )
    return rows


def click_pace(source: str, data_dir, counts: Sequence[int] = (1, 2, 3, 5, 10, 30)) -> dict:
    """Median seconds from an observer's first click (or sample) to its k-th (wall clock).

    One-second stamps, so a median of 0 means "within the same second".
    Observers with fewer than ``k`` stamps are left out of that ``k``.

    Returns:
      ``{k: median seconds}`` and ``"span"``: the median time from the first to the last stamp.
    """
    times = [t for observers in read_wall_clock(source, data_dir).values() for t in observers]
    pace = {}
    for k in counts:
        values = [t[k - 1] for t in times if len(t) >= k]
        pace[k] = float(np.median(values)) if values else float("nan")
    pace["span"] = float(np.median([t[-1] for t in times if len(t)])) if times else float("nan")
    return pace


def read_for_images(name: str, data_dir, image_ids: Optional[set] = None) -> ReadResult:
    """Reads a source, keeping only the records of ``image_ids`` (``None``: all).

    OSIE's mouse studies (one ``.mat`` file per image) read only the files of
    those images; the others are read whole and then selected.
    """
    if name in ("osie_mouse_lab", "osie_mouse_amt") and image_ids is not None:
        root = osie_root(data_dir)
        result = ReadResult(records=[])
        cache: dict = {}
        for image_id in sorted(i for i in image_ids if i.startswith("osie/")):
            path = root / "data" / name.replace("osie_", "") / f"{image_id.split('/', 1)[1]}.mat"
            try:
                read_osie_mouse_file(path, root, name, result, cache)
            except RecordError as error:
                result.drop("files_unreadable", str(error))
        return result
    result = read_source(name, data_dir)
    if image_ids is not None:
        result.records = [r for r in result.records if r.image_id in image_ids]
    return result


def measure_proxies(
    data_dir,
    comparisons: Sequence[Comparison] = COMPARISONS,
    counts: Sequence[Optional[int]] = DEFAULT_COUNTS,
    num_splits: int = 10,
    seed: int = 0,
    reliability_sources: Optional[Sequence[str]] = None,
    pace: bool = True,
) -> dict:
    """Everything ``python -m ground_truth proxies`` reports.

    Args:
      data_dir: ``../shared/data``.
      comparisons: the pairs to measure.
      counts: values of ``k`` for the proxies.
      num_splits, seed: split-half settings.
      reliability_sources: sources for the reliability table (default: every
        BubbleView source; ``()``: none).
      pace: also time the wall-clock sources among the proxies and the
        reliability sources (:func:`click_pace`; reads their files again, whole).
    Returns:
      ``{"proxies": rows, "reliability": rows, "pace": {source: {...}}, "errors": [...]}``.
    """
    results: dict[str, ReadResult] = {}
    errors: list[str] = []

    def read(name, image_ids=None):
        if name not in results:
            try:
                results[name] = read_for_images(name, data_dir, image_ids)
                errors.extend(f"{name}: {e}" for e in results[name].errors)
            except (RecordError, ValueError) as error:
                errors.append(f"{name}: {error}")
        return results.get(name)

    rows = []
    for comparison in comparisons:
        reference = read(comparison.reference)
        if reference is None or not reference.records:
            continue
        ids = {r.image_id for r in reference.records}
        for name in comparison.proxies:
            read(name, ids)
        rows.extend(proxy_rows(comparison, results, counts, num_splits, seed))
    sources = list(reliability_sources if reliability_sources is not None else FILES_BY_SOURCE)
    for name in sources:
        read(name)
    reliability = reliability_rows(
        {n: results[n] for n in sources if n in results}, num_splits, seed
    )
    paces = {}
    if pace:
        timed = dict.fromkeys(sources + [n for c in comparisons for n in c.proxies])
        for name in timed:
            if name in FILES_BY_SOURCE and FILES_BY_SOURCE[name].times == "wall_clock":
                try:
                    paces[name] = click_pace(name, data_dir)
                except (RecordError, ValueError) as error:
                    errors.append(f"{name}: {error}")
    return {"proxies": rows, "reliability": reliability, "pace": paces, "errors": errors}


def _pct(value) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{100 * value:.1f}"


def _num(value) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.2f}"


def proxies_markdown(report: dict) -> str:
    """The tables of :func:`measure_proxies` (errors in % of the image diagonal)."""
    lines = []
    by_set: dict = {}
    for row in report["proxies"]:
        by_set.setdefault(row["set"], []).append(row)
    notes = {c.name: c.note for c in COMPARISONS}
    for name, rows in by_set.items():
        lines += [
            f"**{name}** (reference `{rows[0]['reference']}`). {notes.get(name, '')}",
            "",
            (
                "| proxy | modality | k | mean error % (± s.e.) | median error % | "
                "same 256-px group % | skill | density CC | images |"
            ),
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            k = "-" if r["k"] is None else (f"**{r['k']}**" if r["default"] else r["k"])
            lines.append(
                f"| {r['proxy']} | {r['modality']} | {k} | {_pct(r['mean_error'])} "
                f"± {_pct(r['sem_error'])} | "
                f"{_pct(r['median_error'])} | {_pct(r['same_group'])} | {_num(r['skill'])} | "
                f"{_num(r['density_cc'])} | {r['num_images']} |"
            )
        lines.append("")
    if report.get("reliability"):
        lines += [
            (
                "**Each source on its own** (default filters; split-half and distance of the "
                "centre from the image middle, % of the diagonal)"
            ),
            "",
            (
                "| source | modality | k | observers / image | split-half mean % | split-half "
                "median % | same group % | split-half density CC | from middle % | images |"
            ),
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in report["reliability"]:
            lines.append(
                f"| {r['source']} | {r['modality']} | {r['k']} | {r['observers_per_image']:.1f} | "
                f"{_pct(r['mean_error'])} | {_pct(r['median_error'])} | "
                f"{_pct(r['same_group'])} | {_num(r['density_cc'])} | "
                f"{_pct(r['from_middle'])} | {r['num_images']} |"
            )
        lines.append("")
    if report.get("pace"):
        ks = [k for k in next(iter(report["pace"].values())) if k != "span"]
        lines += [
            (
                "**Pace** (median seconds from an observer's first point to its k-th; "
                "one-second stamps)"
            ),
            "",
            "| source | " + " | ".join(f"k={k}" for k in ks) + " | last |",
            "|---|" + "---|" * (len(ks) + 1),
        ]
        for name, pace in report["pace"].items():
            lines.append(
                f"| {name} | " + " | ".join(f"{pace[k]:g}" for k in ks) + f" | {pace['span']:g} |"
            )
        lines.append("")
    return "\n".join(lines)


def training_use_markdown(table: Optional[dict] = None) -> str:
    """:data:`TRAINING_USE` as a markdown table."""
    table = TRAINING_USE if table is None else table
    lines = [
        (
            "| source | train | target | centre weight | density weight | calibrated on "
            "(skill, CC ratio) | why |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for name, use in table.items():
        lines.append(
            f"| `{name}` | {'**yes**' if use.train else 'no'} | {use.target} | "
            f"{use.center_weight:g} | {use.density_weight:g} | {use.calibrated_on} "
            f"({use.skill:.2f}, {use.cc_ratio:.2f}) | {use.why} |"
        )
    return "\n".join(lines) + "\n"
