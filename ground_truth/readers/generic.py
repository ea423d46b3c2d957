"""The generic format for users' own data: CSV or JSON lines, one row per point.

Columns / keys (header required for CSV; extra columns are ignored):

==============  ========  =====================================================
name            required  meaning
==============  ========  =====================================================
``image``       yes       image file, absolute or relative to the data file's folder
``observer``    yes       observer label (any string); points of one observer
                          and image form one scanpath
``x``, ``y``    yes       point, **0-based pixel centres** of the image as
                          displayed (after EXIF orientation), x first
``source``      yes       ``eye`` or ``mouse`` (the modality)
``onset_ms``    one of    ms from stimulus onset; orders the points and feeds the
``order``       the two   temporal filter (``order``: integer rank, no times)
``duration_ms`` no        fixation duration (ms)
``dataset``     no        dataset name for ``image_id`` (default: the reader's
                          ``dataset`` argument, ``"custom"``)
==============  ========  =====================================================

One record per (image, source): ``image_id = "<dataset>/<image stem>"`` (``osie/1001``
for ``stimuli/1001.jpg``: the id other sources give that image). Distinct image files
are never merged: when two of them share a stem (``imgs/a/x.png`` and ``imgs/b/x.png``),
each gets its path relative to the data file's folder without the suffix instead
(``custom/imgs/a/x``, ``custom/imgs/b/x``); two that would still share an id (``x.png``
and ``x.jpg``, or files outside that folder) are an error naming both, and the second is
dropped (``images_ambiguous``). ``./x.png`` and ``x.png`` are one image. Source name
``"<dataset>_<eye|mouse>"``. Eye data: the temporal filter drops
fixations that began less than 100 ms after onset when ``onset_ms`` is given,
else the first fixation (the pre-stimulus one). Mouse data: the first sample
is dropped as the cursor's start position.

Files are UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"); in a CSV,
spaces around names and values are ignored (``image, observer, x, y, ...``).

Bad rows (unparseable numbers, unknown source, missing columns) raise
:class:`~ground_truth.records.RecordError` naming file and line; so do a CSV header
without the required columns, and a file with no data rows (0 bytes, blank, or a CSV
header alone): it would build "0 records" without a word. NaN and out-of-image points are
dropped and counted.
"""

from __future__ import annotations

import collections
import csv
import json
import math
import os
from pathlib import Path

import numpy as np

from ground_truth.readers.common import ReadResult, finish, make_record
from ground_truth.records import RecordError

__all__ = ["read_generic", "REQUIRED"]

REQUIRED = ("image", "observer", "x", "y", "source")


def _is_json_lines(path: Path) -> bool:
    return path.suffix.lower() in (".jsonl", ".ndjson", ".json")


#: Every column the reader uses (a name given twice in a CSV header is an error).
KNOWN = REQUIRED + ("onset_ms", "order", "duration_ms", "dataset")


def _check_header(path: Path, fieldnames) -> list:
    """The CSV header's names, stripped of spaces (``image, observer, x`` is read as
    ``image,observer,x``); :class:`RecordError` for a header without the required columns
    or with one of them twice."""
    if fieldnames is None:
        raise RecordError(path, "empty file (no CSV header)")
    stripped = [name.strip() if isinstance(name, str) else name for name in fieldnames]
    twice = sorted({k for k in KNOWN if stripped.count(k) > 1})
    if twice:
        raise RecordError(path, f"line 1: the CSV header names {twice} more than once")
    names = {str(name) for name in stripped if name is not None}
    missing = [k for k in REQUIRED if k not in names]
    if missing:
        raise RecordError(
            path, f"line 1: the CSV header is missing {missing} (it has {sorted(names)})"
        )
    if "onset_ms" not in names and "order" not in names:
        raise RecordError(path, "line 1: the CSV header needs onset_ms or order")
    return stripped


def _rows(path: Path):
    """``(line number, row dict)`` of every data row (JSON lines or CSV).

    UTF-8, with or without a byte-order mark. CSV names and values are stripped of the
    spaces around them (``image, observer, x`` as ``image,observer,x``).
    """
    try:
        handle = open(path, encoding="utf-8-sig", newline=None if _is_json_lines(path) else "")
    except OSError as error:
        raise RecordError(path, f"cannot read: {(error.strerror or str(error)).lower()}") from None
    with handle as f:
        try:
            if _is_json_lines(path):
                for number, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            yield number, json.loads(line)
                        except json.JSONDecodeError as error:
                            raise RecordError(
                                path, f"line {number}: not valid JSON: {error}"
                            ) from None
            else:
                reader = csv.DictReader(f, skipinitialspace=True)
                reader.fieldnames = _check_header(path, reader.fieldnames)
                for number, row in enumerate(reader, 2):
                    yield (
                        number,
                        {k: v.strip() if isinstance(v, str) else v for k, v in row.items()},
                    )
        except UnicodeDecodeError as error:
            raise RecordError(
                path, f"not UTF-8 text ({error.reason} at byte {error.start})"
            ) from None
        except csv.Error as error:
            raise RecordError(path, f"not a readable CSV file: {error}") from None


def _no_rows_reason(path: Path) -> str:
    """Why a file gave no data rows, in words."""
    if path.stat().st_size == 0:
        return "empty file (0 bytes): no records"
    if _is_json_lines(path):
        return "no records: the file has no JSON lines (only blank lines)"
    return "no records: the CSV file has a header and no data rows"


def _image_file(data_file: Path, image: str) -> Path:
    """The image a row names: absolute, or relative to the data file's folder, normalized
    (``./x.png`` and ``x.png`` are one image)."""
    joined = Path(image) if Path(image).is_absolute() else data_file.parent / image
    return Path(os.path.normpath(joined))


def _image_names(data_file: Path, keys) -> dict:
    """``(image path, dataset)`` -> the image's part of its id: its stem, or, for images
    whose stem another image of the dataset shares, its path relative to the data file's
    folder without the suffix (POSIX separators; the stem when it lies outside)."""
    stems = collections.Counter((dataset, image.stem) for image, dataset in dict.fromkeys(keys))

    def relative_name(image: Path) -> str:
        relative = Path(os.path.relpath(image, os.path.normpath(data_file.parent)))
        if relative.parts and relative.parts[0] != os.pardir:
            return relative.with_suffix("").as_posix()
        return image.stem

    return {
        (image, dataset): image.stem if stems[dataset, image.stem] == 1 else relative_name(image)
        for image, dataset in keys
    }


def _float(value, path, number, name):
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RecordError(path, f"line {number}: {name}={value!r} is not a number") from None


def read_generic(path, dataset: str = "custom") -> ReadResult:
    """Reads a generic CSV / JSONL point file (format in the module docstring).

    Returns:
      :class:`ReadResult`, one record per (image, source).
    Raises:
      RecordError: missing file, missing columns, bad values (file and line named).
    """
    from attention_center.core.files import not_a_file_reason

    path = Path(path)
    reason = not_a_file_reason(path)  # a FIFO is named as one, never opened
    if reason is not None:
        raise RecordError(path, reason)
    groups: dict = collections.defaultdict(lambda: collections.defaultdict(list))
    rows_read = 0
    for number, row in _rows(path):
        rows_read += 1
        if not isinstance(row, dict):
            raise RecordError(path, f"line {number}: expected an object, got {type(row).__name__}")
        missing = [k for k in REQUIRED if row.get(k) in (None, "")]
        if missing:
            raise RecordError(path, f"line {number}: missing {missing}")
        has_onset = row.get("onset_ms") not in (None, "")
        if not has_onset and row.get("order") in (None, ""):
            raise RecordError(path, f"line {number}: needs onset_ms or order")
        source = str(row["source"]).strip().lower()
        if source not in ("eye", "mouse"):
            raise RecordError(
                path, f"line {number}: source={row['source']!r}, expected eye or mouse"
            )
        key = (_image_file(path, str(row["image"])), source, str(row.get("dataset") or dataset))
        groups[key][str(row["observer"])].append(
            (
                _float(
                    row["onset_ms"] if has_onset else row["order"], path, number, "onset_ms/order"
                ),
                number,
                _float(row["x"], path, number, "x"),
                _float(row["y"], path, number, "y"),
                _float(row.get("duration_ms"), path, number, "duration_ms"),
                has_onset,
            )
        )
    if not rows_read:
        raise RecordError(path, _no_rows_reason(path))
    result = ReadResult(records=[])
    files_of_id: dict = {}
    names = _image_names(path, [(image, ds) for image, _, ds in groups])
    for (image_path, source, ds), observers in groups.items():
        image_id = f"{ds}/{names[image_path, ds]}"
        first = files_of_id.setdefault(image_id, image_path)
        if first != image_path:
            result.drop(
                "images_ambiguous",
                f"{path}: {image_path} and {first} would both be image {image_id!r}; "
                f"{image_path} dropped (rename one of them)",
            )
            continue
        hw = result.image_hw(image_path)
        if hw is None:
            continue
        points, onsets, durations, ids = [], [], [], []
        any_onset = any(r[5] for rows in observers.values() for r in rows)
        any_duration = any(not math.isnan(r[4]) for rows in observers.values() for r in rows)
        for observer, rows in observers.items():
            rows.sort(key=lambda r: (r[0], r[1]))  # by onset / order, then file line
            a = np.array([r[:5] for r in rows], np.float64)
            points.append(a[:, 2:4])
            onsets.append(np.where([r[5] for r in rows], a[:, 0], np.nan))
            durations.append(a[:, 4])
            ids.append(observer)
        record = make_record(
            image_id=image_id,
            dataset=ds,
            source=f"{ds}_{source}",
            modality=source,
            image_path=image_path,
            original_hw=hw,
            observers=points,
            onset_ms=onsets if any_onset else None,
            duration_ms=durations if any_duration and not any_onset else None,
            observer_ids=ids,
        )
        finish(result, record)
    return result
