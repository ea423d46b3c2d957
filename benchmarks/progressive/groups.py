"""Each group's section bytes, read from two real files of the image, and a check of the order.

The sizes of the groups' sections do not depend on their order (each group is coded on
its own; only the table of contents changes), so two encodings of an image give them all:
the scanline file (groups in raster order) and the centre-first file around cjxl's
default centre (whose first group is never group 0 when there are 2 or more groups).
:func:`attention_center.jxl.partial.group_arrivals` reads from each file when each
group's interior becomes final; along the order
:func:`attention_center.jxl.group_order.group_order` predicts, the differences between
consecutive arrivals are the sizes. The measured orders are compared with the predicted
ones on the way (``order_agrees``), so every benchmark image also checks the model.

Groups whose interior is already final at the first paint (flat areas, e.g. the empty
margins of a web page) cannot be timed this way; they are left out of the order check
and their bytes count with the next group.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from attention_center.core.orientation import read_orientation
from attention_center.jxl.encoder import EncoderError
from attention_center.jxl.group_order import group_order, ring_positions
from attention_center.jxl.partial import group_arrivals
from benchmarks.progressive.measure import encode

__all__ = ["measure_groups", "order_agrees"]


def order_agrees(arrivals, predicted: np.ndarray, tolerance: int = 0) -> bool:
    """Whether the file's order is the predicted one, over the groups timed after first paint.

    Arrivals found to within ``tolerance`` bytes may tie (ties agree with any order), and
    a group final within ``2 * tolerance`` of the first paint counts as final at it
    (flat: not timed).
    """
    timed = [g for g in predicted if arrivals.final_bytes[g] > arrivals.first_paint + 2 * tolerance]
    final = arrivals.final_bytes[timed]
    return bool(np.all(np.diff(final) >= 0))


def _ends(arrivals, order: np.ndarray) -> np.ndarray:
    """Arrival of each position of ``order``, made non-decreasing (flat groups count later)."""
    return np.maximum.accumulate(arrivals.final_bytes[order])


def measure_groups(
    source: str, original_hw, work: Path, extra_flags: list[str], tolerance: float = 0.002
) -> dict:
    """Section bytes of every group of one image, and whether the order model held.

    Args:
      source: the input image.
      original_hw: ``(h, w)`` as displayed.
      work: scratch folder.
      extra_flags: cjxl flags used for every strategy.
      tolerance: arrivals are found to within this fraction of the file (bisection stops
        there: about 2.5 times fewer decodes than to the byte).
    Returns:
      ``{"section_bytes": [N] (raster groups), "base_centre_first", "base_scanline",
      "file_bytes_scanline", "first_paint", "orders_agree": [scanline, centre-first],
      "timed_groups", "decodes", "seconds"}``, or ``{"error": ...}`` (e.g. an EXIF-rotated
      image, whose groups are not those of the displayed decode).
    """
    started = time.time()
    orientation = read_orientation(source)
    if orientation != 1:
        return {"error": f"EXIF orientation {orientation}: groups not measured"}
    hw = tuple(int(v) for v in original_hw)
    work.mkdir(parents=True, exist_ok=True)
    try:
        data = encode(source, work / "scan.jxl", list(extra_flags))
        step = max(1, int(len(data) * tolerance))
        scan = group_arrivals(data, work_dir=work / "a", tolerance=step)
        middle = group_arrivals(
            encode(source, work / "middle.jxl", ["--group_order", "1", *extra_flags]),
            work_dir=work / "b",
            tolerance=step,
        )
    except (EncoderError, ValueError, OSError) as error:
        return {"error": str(error)[-300:]}
    if tuple(scan.image_hw) != hw:
        return {"error": f"decoded size {scan.image_hw} is not the image's {hw}"}
    order_s = group_order(hw, centre_first=False)
    order_m = group_order(hw, None)
    ends_s, ends_m = _ends(scan, order_s), _ends(middle, order_m)
    sizes = np.zeros(len(order_s), np.int64)
    sizes[order_s[1:]] = np.diff(ends_s)
    position = ring_positions(order_m)[0]  # group 0 in the centre-first file: never first
    sizes[0] = ends_m[position] - ends_m[position - 1] if position > 0 else 0
    timed = int(sum(scan.final_bytes > scan.first_paint + 2 * step))
    return {
        "section_bytes": sizes.tolist(),
        "base_centre_first": int(ends_m[0] - sizes[order_m[0]]),
        "base_scanline": int(ends_s[0] - sizes[0]),
        "file_bytes_scanline": int(scan.file_bytes),
        "file_bytes_centre_first": int(middle.file_bytes),
        "first_paint": int(scan.first_paint),
        "orders_agree": [order_agrees(scan, order_s, step), order_agrees(middle, order_m, step)],
        "final_bytes": [scan.final_bytes.tolist(), middle.final_bytes.tolist()],
        "first_paints": [int(scan.first_paint), int(middle.first_paint)],
        "timed_groups": timed,
        "groups": int(len(order_s)),
        "tolerance_bytes": step,
        "decodes": int(scan.decodes + middle.decodes),
        "seconds": round(time.time() - started, 2),
    }


def groups_for_images(
    records: list[dict],
    cache,
    extra_flags: list[str],
    cjxl_version: str,
    jobs: int,
    work_root: Path,
    run_pool,
    tolerance: float = 0.002,
) -> list[dict]:
    """:func:`measure_groups` for every record, cached by the input's content and the flags.

    Args:
      records: rows with ``image_abspath`` and ``original_hw``.
      cache: a :class:`benchmarks.progressive.cache.Cache`.
      run_pool: ``(jobs, tasks, label) -> iterator of (key, result)`` (run.py's).
    Returns:
      one result per record (``{"error": ...}`` where it failed; errors are not cached).
    """
    results: list = [None] * len(records)
    keys, tasks = {}, []
    for i, row in enumerate(records):
        key = {
            "groups": cache.digest(row["image_abspath"]),
            "flags": list(extra_flags),
            "cjxl": cjxl_version,
            "tolerance": tolerance,
        }
        hit = cache.get("groups", key)
        if hit is not None:
            results[i] = hit
        else:
            keys[i] = key
            tasks.append(
                (
                    i,
                    measure_groups,
                    (
                        row["image_abspath"],
                        row["original_hw"],
                        work_root / f"g{i}",
                        list(extra_flags),
                        tolerance,
                    ),
                )
            )
    print(
        f"{len(tasks)} images to read group sizes from, {len(records) - len(tasks)} cached",
        flush=True,
    )
    for i, result in run_pool(jobs, tasks, "groups"):
        if "error" not in result:
            cache.put("groups", keys[i], result)
        results[i] = result
    return results
