"""The builder: sources -> filtered centres -> portable form (+ TFRecords) + report.

:func:`build` reads every requested source, runs the one filter/centre
implementation (:mod:`ground_truth.filters`) over padded batches, writes one
frame per image (shared by its sources), ``index.jsonl`` and the stats report.
No TensorFlow needed (TFRecords are written by :mod:`ground_truth.build.tfrecords`
only when asked).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from attention_center.core.atomic import atomic_write_text
from attention_center.core.files import check_output_folder, is_inside, resolved
from attention_center.core.frames import frame_transform
from attention_center.core.ground_truth_index import (
    frame_name,
    write_frame,
    write_index,
)
from attention_center.core.images import ImageLoadError, load_image, resize_with_pad
from attention_center.core.splits import split_of
from ground_truth import filters as F
from ground_truth.readers import ALIASES, SOURCES, is_generic, read_source, source_file

__all__ = [
    "build",
    "BuildReport",
    "OUTPUT_FILES",
    "check_frame_hw",
    "frame_size_matches",
    "output_clashes",
    "make_frame",
    "records_to_rows",
    "stats_markdown",
    "write_frames",
]

log = logging.getLogger(__name__)

#: Records per padded batch in the builder.
BATCH = 64

#: The files a build writes into its output folder, beside ``frames/`` (and ``tfrecords/``).
OUTPUT_FILES = ("index.jsonl", "stats.json", "stats.md")


def check_frame_hw(frame_hw) -> tuple[int, int]:
    """``frame_hw`` as ``(H, W)``, two positive integers (pixels).

    Raises:
      ValueError: not two values, not integers, or not positive (the message says which).
    """
    values = list(frame_hw) if isinstance(frame_hw, (list, tuple)) else [frame_hw]
    if len(values) != 2:
        raise ValueError(f"frame_hw {frame_hw!r}: expected two values, height and width")
    try:
        h, w = (int(str(v).strip()) for v in values)
    except ValueError:
        raise ValueError(
            f"frame_hw {frame_hw!r}: height and width must be whole numbers of pixels"
        ) from None
    if h <= 0 or w <= 0:
        raise ValueError(f"frame_hw {frame_hw!r}: height and width must be positive")
    return h, w


def output_clashes(sources: Sequence[str], data_dir, out, tfrecords: bool = False) -> list[str]:
    """What a build into ``out`` would overwrite among its inputs: one message per clash.

    The outputs are ``out/index.jsonl``, ``out/stats.json``, ``out/stats.md``, every file
    under ``out/frames/`` (and ``out/tfrecords/`` with ``tfrecords``); the inputs checked
    here are the generic ``--source`` files (CSV/JSONL) and, for the dataset sources, the
    whole ``data_dir``. (An image file inside ``out/frames/`` is known only once read:
    :func:`write_frames` refuses to overwrite it.)

    Returns:
      ``[]`` when nothing clashes.
    """
    out = Path(out)
    files = {str(resolved(out / name)): str(out / name) for name in OUTPUT_FILES}
    folders = [out / "frames"] + ([out / "tfrecords"] if tfrecords else [])
    clashes = []
    names = [ALIASES.get(name, name) for name in sources]
    for name in names:
        if not is_generic(name):
            continue
        path = source_file(name, data_dir)
        output = files.get(str(resolved(path)))
        if output is not None:
            clashes.append(f"--source {path}: is the output {output}; choose another --out")
            continue
        for folder in folders:
            if is_inside(path, folder):
                clashes.append(
                    f"--source {path}: lies in {folder}, which the build writes; "
                    "choose another --out"
                )
    if any(name in SOURCES for name in names):
        for folder in folders:
            if is_inside(data_dir, folder):
                clashes.append(
                    f"--data_dir {data_dir}: lies in {folder}, which the build writes; "
                    "choose another --out"
                )
    return clashes


@dataclasses.dataclass
class BuildReport:
    """What :func:`build` did: the rows written, stats per source, errors."""

    rows: list
    stats: dict
    errors: list

    @property
    def ok(self) -> bool:
        return not self.errors


def _round(a, digits=2):
    return np.round(np.asarray(a, np.float64), digits).tolist()


def records_to_rows(
    records,
    data_dir: Path,
    frame_hw,
    seed: int,
    temporal: Optional[F.TemporalParams] = None,
    spatial: Optional[F.SpatialParams] = None,
    batch: int = BATCH,
) -> list[dict]:
    """Filters records (in padded batches) and makes their index rows.

    Args:
      records: :class:`~ground_truth.records.Record` objects (any sources; each is
        filtered with its own defaults unless ``temporal``/``spatial`` are given).
      data_dir: image paths are written relative to it.
      frame_hw: ``(H, W)`` of the frame.
      seed: split seed.
      temporal, spatial: parameters (default: :func:`ground_truth.filters.params_for`).
    Returns:
      one dict per record (the fields of :mod:`attention_center.core.ground_truth_index`), plus
      ``"_kept_temporal"`` (points kept by the temporal filter) for the report.
    """
    rows: list = [None] * len(records)
    data_dir = resolved(data_dir)
    groups: dict = {}
    for index, record in enumerate(records):
        t, s = F.params_for(record)
        groups.setdefault((temporal or t, spatial or s), []).append(index)
    chunks = [
        (t, s, indices[start : start + batch])
        for (t, s), indices in groups.items()
        for start in range(0, len(indices), batch)
    ]
    for t, s, chunk_idx in chunks:
        chunk = [records[i] for i in chunk_idx]
        padded = F.pad_records(chunk, max_points=t.points_needed)
        result = F.filter_and_center(padded, t, s)
        for k, record in enumerate(chunk):
            transform = frame_transform(record.original_hw, frame_hw)
            keep = result.spatial[k]
            obs_idx, pt_idx = np.nonzero(keep)
            points = padded.points[k][obs_idx, pt_idx]
            center = result.centers[k]
            image_path = _row_path(record.image_path, data_dir)
            rows[chunk_idx[k]] = {
                "image_id": record.image_id,
                "dataset": record.dataset,
                "source": record.source,
                "modality": record.modality,
                "split": split_of(record.image_id, seed),
                "data_dir": str(data_dir),
                "image_path": image_path,
                "same_picture_as": (
                    None
                    if record.same_picture_as is None
                    else _row_path(record.same_picture_as, data_dir)
                ),
                "original_hw": list(record.original_hw),
                "frame_hw": [int(frame_hw[0]), int(frame_hw[1])],
                "frame_path": frame_name(record.image_id),
                "center": _round(center, 3),
                "center_frame": _round(transform.points_to_frame(center), 3),
                "points": _round(points),
                "points_frame": _round(transform.points_to_frame(points)),
                "observer_of_point": obs_idx.astype(int).tolist(),
                "num_observers": record.num_observers,
                "num_points_in": record.num_points,
                "num_points_kept": int(len(points)),
                "fallback": result.fallback[k],
                "_kept_temporal": int(result.temporal[k].sum()),
            }
    return rows


def _source_stats(records, rows: list[dict], params: tuple) -> dict:
    centers = np.array(
        [
            [
                (r["center"][0] + 0.5) / r["original_hw"][1],
                (r["center"][1] + 0.5) / r["original_hw"][0],
            ]
            for r in rows
        ]
    ).reshape(-1, 2)
    splits = {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")}
    fallbacks: dict = {}
    for r in rows:
        if r["fallback"]:
            fallbacks[r["fallback"]] = fallbacks.get(r["fallback"], 0) + 1
    t, s = params
    drops: dict = {}
    for record in records:
        for key, value in record.drops.items():
            drops[key] = drops.get(key, 0) + int(value)
    return {
        "images": len(rows),
        "observers": int(sum(r["num_observers"] for r in rows)),
        "points_in": int(sum(r["num_points_in"] for r in rows)),
        "kept_temporal": int(sum(r["_kept_temporal"] for r in rows)),
        "kept_spatial": int(sum(r["num_points_kept"] for r in rows)),
        "fallbacks": int(sum(fallbacks.values())),
        "fallback_reasons": fallbacks,
        "reader_drops": {k: v for k, v in sorted(drops.items()) if v},
        "center_norm_mean": _round(centers.mean(0) if len(centers) else [np.nan] * 2, 4),
        "center_norm_std": _round(centers.std(0) if len(centers) else [np.nan] * 2, 4),
        "splits": splits,
        "temporal_params": dataclasses.asdict(t) if t else None,
        "spatial_params": dataclasses.asdict(s) if s else None,
    }


def stats_markdown(stats: dict) -> str:
    """The human-readable report (``stats.md``)."""
    lines = [
        "# ground_truth build report",
        "",
        f"data_dir: `{stats['data_dir']}`, seed {stats['seed']}, frame {stats['frame_hw']}, "
        f"{stats['total_images']} images, {stats['total_records']} records, "
        f"{len(stats['errors'])} errors.",
        "",
        "| source | images | observers | points in | kept temporal | kept spatial | fallbacks "
        "| centre x mean (std) | centre y mean (std) | train/val/test | reader drops |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in stats["sources"].items():
        sp = s["splits"]
        drops = ", ".join(f"{k} {v}" for k, v in s["reader_drops"].items()) or "-"
        lines.append(
            f"| {name} | {s['images']} | {s['observers']} | {s['points_in']} | "
            f"{s['kept_temporal']} | {s['kept_spatial']} | {s['fallbacks']} | "
            f"{s['center_norm_mean'][0]:.3f} ({s['center_norm_std'][0]:.3f}) | "
            f"{s['center_norm_mean'][1]:.3f} ({s['center_norm_std'][1]:.3f}) | "
            f"{sp['train']}/{sp['val']}/{sp['test']} | {drops} |"
        )
    ss = stats["image_splits"]
    lines += [
        "",
        f"Images by split (all sources): train {ss['train']}, val {ss['val']}, test {ss['test']}.",
        "",
        "Centres are normalized: ((x + 0.5) / w, (y + 0.5) / h).",
        "",
    ]
    for name, s in stats["sources"].items():
        lines.append(f"- {name}: temporal {s['temporal_params']}, spatial {s['spatial_params']}")
    lines += [
        "",
        "Reads (`--source`): "
        + "; ".join(
            f"{name}: {r['records']} records in {r['seconds']} s, drops {r['drops'] or '-'}, "
            f"{r['errors']} errors"
            for name, r in stats.get("reads", {}).items()
        ),
    ]
    if stats["errors"]:
        lines += ["", "## Errors", ""] + [f"- {e}" for e in stats["errors"]]
    return "\n".join(lines) + "\n"


def make_frame(row: dict, frame_hw) -> np.ndarray:
    """The frame of an index row: its original image fitted into ``frame_hw``.

    Args:
      row: an index row (``data_dir``, ``image_path``, ``original_hw``).
      frame_hw: ``(H, W)``.
    Returns:
      ``float32 [H, W, 3]`` RGB in [0, 1] (:func:`attention_center.core.images.resize_with_pad`).
    Raises:
      ImageLoadError: the image cannot be decoded, or its size differs from the row's.
    """
    source_path = Path(row["data_dir"]) / row["image_path"]
    image = load_image(source_path)
    if tuple(image.shape[:2]) != tuple(row["original_hw"]):
        raise ImageLoadError(
            source_path,
            f"decoded size {image.shape[:2]} differs from the record's {tuple(row['original_hw'])}",
        )
    frame, _ = resize_with_pad(image, frame_hw)
    return frame


def _row_path(path, data_dir: Path) -> str:
    """An index row's image path: relative to ``data_dir`` (POSIX) when under it, else
    absolute."""
    try:
        return Path(path).resolve().relative_to(data_dir).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def _picture_path(row) -> str:
    """The image file a row's picture is: the original of a rescaled copy
    (``same_picture_as``), else its own ``image_path``."""
    return row.get("same_picture_as") or row["image_path"]


def frame_size_matches(path, frame_hw) -> bool:
    """Whether ``path`` is a readable image of ``frame_hw`` ``(H, W)`` pixels (from its header)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            w, h = image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return False
    return (int(h), int(w)) == (int(frame_hw[0]), int(frame_hw[1]))


def write_frames(
    rows,
    out: Path,
    frame_hw,
    reuse: bool,
    errors: list,
    progress: bool,
    input_images=None,
) -> set:
    """Writes one frame per image; returns the image ids that failed.

    Rows of one image id must name one picture (one image file, or a declared rescaled copy
    of it: ``same_picture_as``; the frame is then made from the original), and two image ids
    one frame file each: otherwise (two sources' files named alike, ids that differ only by
    ``/`` and ``_``) the later id (in sorted order) is an error naming both, never a silent
    merge. A frame file that is an input image (an image of any row, or one of
    ``input_images``: resolved paths) is never written: an error.

    Args:
      rows: index rows (``image_id``, ``frame_path``, ``data_dir``, ``image_path``,
        ``same_picture_as``, ``original_hw``).
      out: the build folder.
      frame_hw: ``(H, W)`` of the frames.
      reuse: keep a frame file already there when it is an image of ``frame_hw`` (else it
        is written again).
      errors: messages are appended here.
      progress: show a progress bar.
      input_images: more input image paths (resolved) that must not be overwritten.
    """
    from tqdm import tqdm

    first, failed, frame_owner = {}, set(), {}
    inputs = {str(resolved(p)) for p in (input_images or ())}
    for r in rows:
        for name in (r["image_path"], r.get("same_picture_as")):
            if name is not None:
                inputs.add(str(resolved(Path(r["data_dir"]) / name)))
    for r in rows:
        seen = first.setdefault(r["image_id"], r)
        if _picture_path(seen) != _picture_path(r) and r["image_id"] not in failed:
            errors.append(
                f"{r['image_id']}: names two different images, {seen['image_path']} and "
                f"{r['image_path']}; not built (give the sources distinct datasets or names)"
            )
            failed.add(r["image_id"])
        elif seen.get("same_picture_as") and not r.get("same_picture_as"):
            first[r["image_id"]] = r  # the frame from the original, not the rescaled copy
    for image_id, r in sorted(first.items()):
        owner = frame_owner.setdefault(r["frame_path"], image_id)
        if owner != image_id:
            errors.append(
                f"{image_id}: its frame {r['frame_path']} would also be {owner}'s; not built"
            )
            failed.add(image_id)
    first = {k: v for k, v in first.items() if k not in failed}
    for image_id, r in tqdm(sorted(first.items()), desc="frames", disable=not progress):
        path = out / r["frame_path"]
        if str(resolved(path)) in inputs:
            errors.append(
                f"{image_id}: its frame {path} is an input image; not written (build into "
                "another --out)"
            )
            failed.add(image_id)
            continue
        if reuse and path.is_file() and frame_size_matches(path, frame_hw):
            continue
        try:
            write_frame(path, make_frame(r, frame_hw))
        except (ImageLoadError, OSError) as error:
            errors.append(f"{image_id}: frame not written: {error}")
            failed.add(image_id)
    return failed


def build(
    sources: Sequence[str],
    data_dir,
    out,
    seed: int = 0,
    frame_hw=(480, 640),
    reuse_frames: bool = False,
    progress: bool = True,
    temporal: Optional[F.TemporalParams] = None,
    spatial: Optional[F.SpatialParams] = None,
    tfrecords: bool = False,
    records_per_shard: int = 256,
) -> BuildReport:
    """Builds the portable ground truth.

    Args:
      sources: names from :data:`ground_truth.readers.SOURCES` (or aliases).
      data_dir: folder with the datasets (``../shared/data``).
      out: output folder (created; ``index.jsonl``, ``frames/``, ``stats.*``).
      seed: split seed.
      frame_hw: frame size ``(H, W)``.
      reuse_frames: keep a frame already in ``out/frames`` when its size is ``frame_hw``
        (any other is written again).
      temporal, spatial: override the per-source defaults.
      tfrecords: also write sharded TFRecords to ``out/tfrecords`` (needs TensorFlow).
      records_per_shard: records per TFRecord file.
    Returns:
      :class:`BuildReport`. A source that cannot be read, or an image whose
      frame cannot be made, is reported in ``errors``; the others are built.
    Raises:
      ValueError: before anything is read or written: a bad ``frame_hw``
        (:func:`check_frame_hw`), an output that would overwrite an input
        (:func:`output_clashes`), or an ``out`` that cannot be the output folder (a file,
        not writable: :class:`attention_center.core.files.OutputFolderError`).
    """
    import time

    frame_hw = check_frame_hw(frame_hw)
    clashes = output_clashes(sources, data_dir, out, tfrecords)
    if clashes:
        raise ValueError("; ".join(clashes))
    out = check_output_folder(out)
    data_dir = resolved(data_dir)  # a symbolic link loop is reported by the readers
    errors: list = []
    rows_by_source: dict = {}
    stats_sources: dict = {}
    for name in sources:
        name = ALIASES.get(name, name)
        if name not in SOURCES and not is_generic(name):
            errors.append(f"unknown source {name!r}; known: {sorted(SOURCES)}")
            continue
        t0 = time.perf_counter()
        try:
            read = read_source(name, data_dir)
        except Exception as error:  # RecordError, or a bug in a reader: report, go on
            text = str(error)  # a generic source's error names its file already
            errors.append(text if text.startswith(f"{name}: ") else f"{name}: {text}")
            continue
        errors.extend(f"{name}: {e}" for e in read.errors)
        if not read.records:  # every row dropped: say so, never "0 records" and exit 0
            dropped = ", ".join(f"{k} {v}" for k, v in sorted(read.drops.items()) if v)
            errors.append(f"{name}: no records" + (f" (dropped: {dropped})" if dropped else ""))
        rows = records_to_rows(read.records, data_dir, frame_hw, seed, temporal, spatial)
        rows_by_source[name] = (read, rows, time.perf_counter() - t0)
        log.info("%s: %d records", name, len(rows))
    all_rows = [r for _, rows, _ in rows_by_source.values() for r in rows]
    generic_files = [
        source_file(name, data_dir) for name in sources if is_generic(ALIASES.get(name, name))
    ]
    failed = write_frames(
        all_rows, out, frame_hw, reuse_frames, errors, progress, input_images=generic_files
    )
    reads: dict = {}
    for name, (read, rows, seconds) in rows_by_source.items():
        rows = [r for r in rows if r["image_id"] not in failed]
        rows_by_source[name] = (read, rows, seconds)
        reads[name] = {
            "records": len(rows),
            "seconds": round(seconds, 2),
            "drops": {k: int(v) for k, v in sorted(read.drops.items()) if v},
            "errors": len(read.errors),
        }
        for source in dict.fromkeys(r["source"] for r in rows):
            records = [rec for rec in read.records if rec.source == source]
            params = F.params_for(records[0])
            params = (temporal or params[0], spatial or params[1])
            stats_sources[source] = _source_stats(
                records, [r for r in rows if r["source"] == source], params
            )
    all_rows = [r for _, rows, _ in rows_by_source.values() for r in rows]
    for r in all_rows:
        r.pop("_kept_temporal", None)
    image_splits = {s: 0 for s in ("train", "val", "test")}
    for split in {r["image_id"]: r["split"] for r in all_rows}.values():
        image_splits[split] += 1
    write_index(out / "index.jsonl", all_rows)
    stats = {
        "data_dir": str(data_dir),
        "seed": seed,
        "frame_hw": list(frame_hw),
        "total_records": len(all_rows),
        "total_images": len({r["image_id"] for r in all_rows}),
        "image_splits": image_splits,
        "sources": stats_sources,
        "reads": reads,
        "errors": errors,
    }
    if tfrecords:
        from ground_truth.build.tfrecords import write_tfrecords

        by_key = {
            (r.image_id, r.source): r
            for read, _, _ in rows_by_source.values()
            for r in read.records
        }
        try:
            stats["tfrecord_files"] = len(write_tfrecords(all_rows, out, by_key, records_per_shard))
        except Exception as error:  # report, still write the portable form
            errors.append(f"tfrecords: {error}")
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=1) + "\n")
    atomic_write_text(out / "stats.md", stats_markdown(stats))
    return BuildReport(rows=all_rows, stats=stats, errors=errors)
