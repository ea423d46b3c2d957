"""Helpers shared by the readers: loading .mat files, image sizes, assembling records."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

from attention_center.core.orientation import EXIF_ORIENTATION_TAG
from attention_center.core.orientation import displayed_hw as orientation_displayed_hw
from ground_truth.records import DropCounter, Record, RecordError, usable_mask

__all__ = ["ReadResult", "load_mat", "displayed_hw", "make_record", "field"]


@dataclasses.dataclass
class ReadResult:
    """What a reader returns.

    Attributes:
      records: the records read (one per image that has at least one observer).
      drops: what was dropped, by reason, summed over all records.
      errors: one line per image or file that could not be used (also counted in ``drops``).
    """

    records: list[Record]
    drops: DropCounter = dataclasses.field(default_factory=DropCounter)
    errors: list[str] = dataclasses.field(default_factory=list)

    def extend(self, other: ReadResult) -> None:
        self.records.extend(other.records)
        self.drops.update(other.drops)
        self.errors.extend(other.errors)

    def drop(self, reason: str, message: str) -> None:
        """Counts one dropped image under ``reason`` and keeps ``message`` (file and problem)."""
        self.drops[reason] += 1
        self.errors.append(message)

    def image_hw(self, path) -> Optional[tuple[int, int]]:
        """:func:`displayed_hw` of an image, or ``None`` when it is missing or unreadable.

        A failure is counted as ``images_missing`` with its message, so the reader
        skips that image and goes on with the others.
        """
        try:
            return displayed_hw(path)
        except RecordError as error:
            self.drop("images_missing", str(error))
            return None


#: Memory a MATLAB file may take to load in the isolated reader beyond the reader's own: a
#: fixed allowance plus this many times the file's size (the real files need < 20x).
MAT_MEMORY_BYTES, MAT_MEMORY_PER_FILE_BYTE = 1 << 30, 200
#: Seconds a MATLAB file may take to load in the isolated reader (the largest real one: 0.1 s).
MAT_TIMEOUT_S = 300.0


def _mat_variable(path: str, variable: str):
    """``("ok", value)`` or ``("missing", names found)``: scipy's ``loadmat``."""
    import scipy.io

    contents = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    if variable not in contents:
        return "missing", sorted(k for k in contents if not k.startswith("__"))
    return "ok", contents[variable]


def load_mat(path, variable: str):
    """Loads one variable of a MATLAB file (squeezed, structs as attribute objects).

    ``scipy.io.loadmat`` reads it. Its C reader trusts the types and sizes a file declares:
    one changed byte (a data type MATLAB does not have) crashed the whole program (a
    segmentation fault, exit 139), and 184 bytes claiming a 1 x 2e9 cell array made it
    allocate 15 GiB. So a file is first walked by our own strict reader
    (:func:`ground_truth.readers.matfile.check_file`: every element's type known, every
    size within the bytes that hold it); scipy reads what it accepts here, in this process
    (all the real data). Anything else (corrupt, or a layout our reader does not know:
    big-endian, v4, v7.3, sparse...) is read by scipy in a child process
    (:func:`attention_center.core.processes.call_isolated`) with a memory limit
    (:data:`MAT_MEMORY_BYTES` + :data:`MAT_MEMORY_PER_FILE_BYTE` x the file size) and a
    timeout, where a crash or a runaway allocation is one error naming the file and the
    other sources go on. (A child for every file would be as safe but costs a fork per file:
    the 700 OSIE mouse files took 3 s to read and 10-35 s that way.)

    Raises:
      RecordError: missing or not a regular file (a FIFO is never opened), unreadable,
        corrupt (also: crashes the reader, needs too much memory), or no such variable.
    """
    from attention_center.core.files import not_a_file_reason
    from attention_center.core.processes import IsolatedCallError, call_isolated
    from ground_truth.readers.matfile import MatUnsupported, check_file

    path = Path(path)
    reason = not_a_file_reason(path)
    if reason is not None:
        raise RecordError(path, reason)
    try:
        check_file(path)
    except MatUnsupported:
        import scipy.io  # noqa: F401 - imported here once, not in the child

        budget = MAT_MEMORY_BYTES + MAT_MEMORY_PER_FILE_BYTE * path.stat().st_size
        try:
            kind, value = call_isolated(
                _mat_variable, str(path), variable, memory_bytes=budget, timeout=MAT_TIMEOUT_S
            )
        except IsolatedCallError as error:
            raise RecordError(path, f"not a readable MATLAB file: {error.reason}") from None
    else:
        try:
            kind, value = _mat_variable(str(path), variable)
        except Exception as error:  # scipy raises ValueError, TypeError, OSError, ...
            raise RecordError(path, f"not a readable MATLAB file: {error}") from error
    if kind == "missing":
        raise RecordError(path, f"no variable {variable!r} (found {value})")
    return value


def field(struct, name: str, path):
    """``struct.name``, or a :class:`RecordError` naming the file and the missing field."""
    try:
        return getattr(struct, name)
    except AttributeError:
        fields = getattr(struct, "_fieldnames", None)
        raise RecordError(path, f"struct has no field {name!r} (fields: {fields})") from None


def displayed_hw(path) -> tuple[int, int]:
    """``(h, w)`` of an image as displayed (EXIF orientation applied), from its header.

    Raises:
      RecordError: missing or unidentifiable image.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError(path, "image file not found")
    try:
        with Image.open(path) as image:
            w, h = image.size
            orientation = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except (UnidentifiedImageError, OSError) as error:
        raise RecordError(path, f"not a readable image: {error}") from error
    h, w = orientation_displayed_hw((h, w), orientation)
    return int(h), int(w)


def make_record(
    *,
    image_id: str,
    dataset: str,
    source: str,
    modality: str,
    image_path,
    original_hw,
    observers: Sequence[np.ndarray],
    onset_ms: Optional[Sequence[np.ndarray]] = None,
    duration_ms: Optional[Sequence[np.ndarray]] = None,
    observer_ids: Optional[Sequence] = None,
    same_picture_as=None,
) -> Record:
    """Validates raw per-observer points and builds a :class:`Record`.

    NaN and out-of-image points are dropped and counted (``record.drops``);
    observers left with no point are dropped and counted (``observers_empty``).
    What was recorded is not forgotten: when a point is dropped, the record keeps each
    kept point's position in its observer's recorded sequence and the onsets of every
    recorded point (``recorded_index``, ``recorded_onset_ms``), so that the temporal
    filter, which runs before the validity drop, sees the sequence as recorded (an
    off-image first sample is still the first; an off-image fixation's duration still
    delays the later onsets).
    Args are as in :class:`Record`; ``observers`` are already 0-based ``(x, y)``, each
    observer's points in recorded order.
    """
    drops = DropCounter()
    kept_points, kept_onsets, kept_durations, kept_ids = [], [], [], []
    kept_index, recorded_onsets = [], []
    any_dropped = False
    ids = list(observer_ids) if observer_ids is not None else list(range(len(observers)))
    for i, points in enumerate(observers):
        onset = None if onset_ms is None else onset_ms[i]
        duration = None if duration_ms is None else duration_ms[i]
        points = np.asarray(points, np.float64).reshape(-1, 2)
        keep = usable_mask(points, original_hw, drops, onset, duration)
        if not np.any(keep):
            drops["observers_empty"] += 1
            continue
        any_dropped = any_dropped or not np.all(keep)
        kept_points.append(points[keep])
        kept_onsets.append(None if onset is None else np.asarray(onset, np.float64)[keep])
        kept_durations.append(None if duration is None else np.asarray(duration, np.float64)[keep])
        kept_ids.append(ids[i])
        kept_index.append(np.flatnonzero(keep).astype(np.int64))
        recorded_onsets.append(_recorded_onsets(len(points), onset, duration))
    return Record(
        image_id=image_id,
        dataset=dataset,
        source=source,
        modality=modality,
        image_path=os.fspath(Path(image_path).resolve()),
        original_hw=tuple(int(v) for v in original_hw),
        observers=kept_points,
        onset_ms=None if onset_ms is None else kept_onsets,
        duration_ms=None if duration_ms is None else kept_durations,
        observer_ids=kept_ids,
        drops=drops,
        same_picture_as=None
        if same_picture_as is None
        else os.fspath(Path(same_picture_as).resolve()),
        recorded_index=kept_index if any_dropped else None,
        recorded_onset_ms=recorded_onsets if any_dropped else None,
    )


def _recorded_onsets(n: int, onset, duration) -> np.ndarray:
    """Onsets ``float64 [n]`` (ms) of an observer's ``n`` recorded points: the real ones, else
    the sum of the previous points' durations (a missing duration counts 0), else NaN."""
    if onset is not None:
        return np.asarray(onset, np.float64).reshape(-1)
    if duration is not None:
        d = np.asarray(duration, np.float64).reshape(-1)
        return np.concatenate([[0.0], np.nancumsum(d)[:-1]])[:n]
    return np.full(n, np.nan)


def finish(result: ReadResult, record: Record) -> None:
    """Adds a record to a result, or counts it as empty when no observer is left."""
    result.drops.update(record.drops)
    if record.num_observers == 0:
        result.drops["records_empty"] += 1
        result.errors.append(f"{record.image_id} ({record.source}): no valid observer left")
        return
    result.records.append(record)
