"""The ground-truth builder on Apache Beam: crowd-scale click and mouse data.

Same inputs, same code, same output as :func:`ground_truth.build.build` (``index.jsonl`` and
``frames/``, see :mod:`attention_center.core.ground_truth_index`), spread over Beam workers::

    attention-center ground-truth beam --source salicon_mouse,osie_mouse_amt \\
        --data_dir ../shared/data --out gt [Beam pipeline options, e.g. --direct_num_workers=2
        --direct_running_mode=multi_processing]

What runs where:

1. **read**, one unit of work per data file where a source has one file per image or per
   split (OSIE's ``mouse_lab/*.mat``, ``mouse_amt/*.mat``: one per image; SALICON's
   ``annotations/fixations_*.json``: one per split), one unit per source otherwise; each
   unit is read by the source's own reader (:mod:`ground_truth.readers`) into
   :class:`~ground_truth.records.Record` objects;
2. **filter**: :func:`ground_truth.build.records_to_rows` (the one
   temporal filter, spatial filter and centre of :mod:`ground_truth.filters`) on batches of
   a unit's records (formed where they are read);
3. **frames**: rows grouped by frame file (``frame_path``: an image's rows, and those of any
   other image id whose frame file would be the same one, e.g. ``custom/a_x`` and
   ``custom/a/x``), each frame written once by the builder's own frame writer
   (:func:`ground_truth.build.write_frames`: ``load_image`` + ``resize_with_pad`` +
   ``write_frame``); an image whose frame cannot be made, two ids that would share a frame
   file, or a frame file that is an input image are errors, as in ``build``;
4. **index**: the rows in ``build``'s order (source as given, then the reader's order),
   ``index.jsonl`` written atomically, and ``stats.json`` (counts per source, errors).

The rows are equal to ``build``'s on the same sources (``tests/beam/beam_ground_truth_test.py``),
on every runner: each step has one output (``(tag, value)`` pairs split by
:func:`_values_of`, no tagged outputs), nothing is emitted from ``finish_bundle`` and there
are no side inputs: Beam's DaskRunner gets those wrong (see
:mod:`attention_center.beam.runners`).
``data_dir`` and ``out`` are file paths: on a cluster, a file system every worker mounts
(NFS, Filestore, gcsfuse). ``stats.md`` and TFRecords are ``build``'s alone.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from attention_center.core.atomic import atomic_write_text
from attention_center.core.files import check_output_folder, resolved
from ground_truth import filters as F
from ground_truth.build import (
    BATCH,
    check_frame_hw,
    output_clashes,
    records_to_rows,
    write_frames,
)
from ground_truth.readers import ALIASES, SOURCES, ReadResult, is_generic, read_source
from ground_truth.readers.osie import osie_root, read_osie_mouse_file
from ground_truth.readers.salicon import read_salicon, salicon_json_files
from ground_truth.records import RecordError

__all__ = ["BuildGroundTruth", "ReadUnit", "read_units"]

NAMESPACE = "ground_truth"
_MOUSE_STUDIES = {"osie_mouse_lab": "lab", "osie_mouse_amt": "amt"}


@dataclasses.dataclass(frozen=True)
class ReadUnit:
    """One independently readable piece of a source.

    Attributes:
      source: the source's name (``"osie_mouse_amt"``) or generic file.
      source_index, unit_index: its place in ``build``'s order.
      path: the one file this unit reads, or ``None`` for the whole source.
    """

    source: str
    source_index: int
    unit_index: int
    path: Optional[str] = None


def read_units(sources: Sequence[str], data_dir) -> tuple[list[ReadUnit], list[str]]:
    """Splits the sources into :class:`ReadUnit` s (per file where the format allows it).

    Returns:
      ``(units, errors)``: unknown sources are errors (``"name: reason"``), as in ``build``.
    """
    units, errors = [], []
    data_dir = Path(data_dir).resolve()
    for index, name in enumerate(sources):
        name = ALIASES.get(name, name)
        if name not in SOURCES and not is_generic(name):
            errors.append(f"unknown source {name!r}; known: {sorted(SOURCES)}")
            continue
        files: list = []
        if name in _MOUSE_STUDIES:
            files = sorted(
                (osie_root(data_dir) / "data" / f"mouse_{_MOUSE_STUDIES[name]}").glob("*.mat")
            )
        elif name == "salicon_mouse":
            files = salicon_json_files(data_dir)
        if files:
            units += [ReadUnit(name, index, i, str(p)) for i, p in enumerate(files)]
        else:  # one file, or a layout we leave to the reader (it reports what is missing)
            units.append(ReadUnit(name, index, 0, None))
    return units, errors


def _read_unit(unit: ReadUnit, data_dir: Path) -> ReadResult:
    """Reads one unit with the source's own reader."""
    if unit.path is None:
        return read_source(unit.source, data_dir)
    if unit.source in _MOUSE_STUDIES:
        result = ReadResult(records=[])
        try:
            read_osie_mouse_file(unit.path, osie_root(data_dir), unit.source, result, {})
        except RecordError as error:  # as read_osie_mouse: the file is counted, the rest go on
            result.drops["files_unreadable"] += 1
            result.errors.append(str(error))
        return result
    return read_salicon(json_paths=[unit.path])


def _values_of(item: tuple, tag: str):
    """``FlatMap`` function: the value of a ``(tag, value)`` pair whose tag is ``tag``."""
    if item[0] == tag:
        yield item[1]


class _ReadRecords(beam.DoFn):
    """ReadUnit -> ``("records", [((source_index, unit_index, record_index), Record), ...])``
    batches of at most ``batch`` records, and ``("errors", message)``."""

    def __init__(self, data_dir: str, batch: int = BATCH):
        self._data_dir = Path(data_dir)
        self._batch = max(1, int(batch))
        self._records = Metrics.counter(NAMESPACE, "records")
        self._errors = Metrics.counter(NAMESPACE, "errors")

    def process(self, unit: ReadUnit):
        try:
            read = _read_unit(unit, self._data_dir)
        except Exception as error:  # noqa: BLE001 - RecordError or a reader bug, as in build
            self._errors.inc()
            yield "errors", f"{unit.source}: {error}"
            return
        for message in read.errors:
            self._errors.inc()
            yield "errors", f"{unit.source}: {message}"
        keyed = [
            ((unit.source_index, unit.unit_index, i), record)
            for i, record in enumerate(read.records)
        ]
        self._records.inc(len(keyed))
        for start in range(0, len(keyed), self._batch):
            yield "records", keyed[start : start + self._batch]


#: The fields of a row the frame writer reads (``ground_truth.build.write_frames``).
_FRAME_FIELDS = (
    "image_id",
    "frame_path",
    "data_dir",
    "image_path",
    "same_picture_as",
    "original_hw",
)
#: The fields of a row ``stats.json`` counts.
_STATS_FIELDS = (
    "image_id",
    "source",
    "num_observers",
    "num_points_in",
    "num_points_kept",
    "fallback",
)


@dataclasses.dataclass(frozen=True)
class _Row:
    """An index row on its way: its place in ``build``'s order, its ``index.jsonl`` line, and
    the few fields the frame writer and the stats need (a row holds thousands of numbers:
    Beam's coders would encode them one by one at every shuffle, and parsing the line back
    costs more than the filters)."""

    order: tuple
    line: str
    frame: dict
    summary: dict


def _rows_of_batch(batch, data_dir: str, out: str, frame_hw, seed: int, temporal, spatial):
    """A batch of ``(order, Record)`` -> ``(frame_path, _Row)`` via records_to_rows, and
    ``(frame_path, image path)`` for each input image that lies where a frame would be
    written (``out/frames/``): the frame writer of that key must not overwrite it."""
    frames_dir = resolved(Path(out) / "frames")
    for _, record in batch:
        for image in (record.image_path, record.same_picture_as):
            if image is not None and resolved(image).parent == frames_dir:
                yield f"frames/{resolved(image).name}", str(resolved(image))
    rows = records_to_rows(
        [record for _, record in batch],
        Path(data_dir),
        frame_hw,
        seed,
        temporal,
        spatial,
        batch=BATCH,
    )
    for (order, _), row in zip(batch, rows):
        row.pop("_kept_temporal", None)
        # The line exactly as attention_center.core.ground_truth_index.write_index writes it.
        line = json.dumps(row, separators=(",", ":"))
        yield (
            row["frame_path"],
            _Row(
                order, line, {k: row[k] for k in _FRAME_FIELDS}, {k: row[k] for k in _STATS_FIELDS}
            ),
        )


class _WriteFrames(beam.DoFn):
    """``(frame_path, [_Row | input image path...])`` -> the frame written once (by
    :func:`ground_truth.build.write_frames`, which refuses two image ids for one frame file
    and a frame file that is an input image); ``("rows", _Row)`` for each row of an image
    built, ``("errors", message)`` for each problem."""

    def __init__(self, out: str, frame_hw, reuse_frames: bool):
        self._out = Path(out)
        self._frame_hw = tuple(frame_hw)
        self._reuse = reuse_frames
        self._frames = Metrics.counter(NAMESPACE, "frames")
        self._errors = Metrics.counter(NAMESPACE, "errors")

    def process(self, item):
        _frame_path, values = item
        values = list(values)
        inputs = {value for value in values if isinstance(value, str)}
        rows = sorted((v for v in values if not isinstance(v, str)), key=lambda row: row.order)
        if not rows:
            return
        errors: list = []
        failed = write_frames(
            [row.frame for row in rows],
            self._out,
            self._frame_hw,
            self._reuse,
            errors,
            progress=False,
            input_images=inputs,
        )
        for message in errors:
            self._errors.inc()
            yield "errors", message
        built = [row for row in rows if row.frame["image_id"] not in failed]
        if built:
            self._frames.inc()
        for row in built:
            yield "rows", row


def _stats(summaries: list[dict], errors: list[str], data_dir: str, seed: int, frame_hw) -> dict:
    sources: dict = {}
    for row in summaries:
        s = sources.setdefault(
            row["source"],
            {"images": 0, "observers": 0, "points_in": 0, "kept_spatial": 0, "fallbacks": 0},
        )
        s["images"] += 1
        s["observers"] += int(row["num_observers"])
        s["points_in"] += int(row["num_points_in"])
        s["kept_spatial"] += int(row["num_points_kept"])
        s["fallbacks"] += int(bool(row["fallback"]))
    return {
        "data_dir": data_dir,
        "seed": seed,
        "frame_hw": list(frame_hw),
        "total_records": len(summaries),
        "total_images": len({r["image_id"] for r in summaries}),
        "sources": sources,
        "errors": errors,
        "engine": "apache_beam",
    }


def _write_outputs(item, out: str, data_dir: str, seed: int, frame_hw) -> dict:
    """``(None, [("rows", _Row) | ("errors", message) | ("seed", None), ...])``, everything
    gathered in one place -> ``index.jsonl`` (build's order, ``write_index``'s format) and
    ``stats.json``."""
    _, tagged = item
    rows = sorted((v for tag, v in tagged if tag == "rows"), key=lambda row: row.order)
    errors = sorted(v for tag, v in tagged if tag == "errors")
    lines = [row.line for row in rows]
    atomic_write_text(Path(out) / "index.jsonl", "\n".join(lines) + ("\n" if lines else ""))
    stats = _stats([row.summary for row in rows], errors, data_dir, seed, frame_hw)
    atomic_write_text(Path(out) / "stats.json", json.dumps(stats, indent=1) + "\n")
    return stats


class BuildGroundTruth(beam.PTransform):
    """``pipeline | BuildGroundTruth(sources, data_dir, out)``: the builder on Beam.

    Args and outputs as :func:`ground_truth.build.build` (``index.jsonl``, ``frames/``) plus
    ``stats.json``; the result is a PCollection of one stats dict (with ``"errors"``).

    Raises:
      ValueError: as :func:`ground_truth.build.build`, when constructed: a bad ``frame_hw``,
        an output that would overwrite an input (:func:`ground_truth.build.output_clashes`);
        when applied: an ``out`` that cannot be the output folder.
    """

    def __init__(
        self,
        sources: Sequence[str],
        data_dir,
        out,
        seed: int = 0,
        frame_hw=(480, 640),
        reuse_frames: bool = False,
        temporal: Optional[F.TemporalParams] = None,
        spatial: Optional[F.SpatialParams] = None,
        batch: int = BATCH,
    ):
        super().__init__()
        frame_hw = check_frame_hw(frame_hw)
        clashes = output_clashes(list(sources), data_dir, out)
        if clashes:
            raise ValueError("; ".join(clashes))
        self._data_dir = str(Path(data_dir).resolve())
        self._out = str(Path(out).resolve())
        self._units, self._unit_errors = read_units(list(sources), self._data_dir)
        self._seed, self._frame_hw = int(seed), frame_hw
        self._reuse, self._temporal, self._spatial = reuse_frames, temporal, spatial
        self._batch = max(1, int(batch))

    def expand(self, pipeline):
        check_output_folder(self._out)  # OutputFolderError (a ValueError): a file, not writable
        read = (
            pipeline
            | "Units" >> beam.Create(self._units)
            | "ReshuffleUnits" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadRecords(self._data_dir, self._batch))
        )
        # No reshuffle of the records: grouping by image below spreads the frames.
        framed = (
            read
            | "Batches" >> beam.FlatMap(_values_of, "records")
            | "Filter"
            >> beam.FlatMap(
                _rows_of_batch,
                self._data_dir,
                self._out,
                self._frame_hw,
                self._seed,
                self._temporal,
                self._spatial,
            )
            | "ByFrame" >> beam.GroupByKey()
            | "Frames" >> beam.ParDo(_WriteFrames(self._out, self._frame_hw, self._reuse))
        )
        # Everything to one place by one key (not side inputs): rows, errors, and a seed so
        # that the outputs are written even when there is neither.
        unit_errors = pipeline | "UnitErrors" >> beam.Create(
            [("errors", message) for message in self._unit_errors] + [("seed", None)]
        )
        read_errors = read | "ReadErrors" >> beam.Filter(lambda item: item[0] == "errors")
        return (
            (unit_errors, read_errors, framed)
            | "All" >> beam.Flatten()
            | "OneKey" >> beam.Map(lambda item: (None, item))
            | "Gather" >> beam.GroupByKey()
            | "Write"
            >> beam.Map(_write_outputs, self._out, self._data_dir, self._seed, self._frame_hw)
        )
