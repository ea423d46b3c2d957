"""The PTransforms: match images, predict their centres, encode, write the results.

For your own pipeline, :class:`ImageCenters` is the core step::

    import apache_beam as beam
    from apache_beam.io import fileio
    from attention_center.beam import ImageCenters

    with beam.Pipeline() as p:
        files = (p | fileio.MatchFiles("gs://bucket/photos/**.jpg") | beam.Reshuffle()
                   | fileio.ReadMatches())
        out = files | ImageCenters(model="default", base="gs://bucket/photos")
        out["centers"] | beam.Map(print)     # {"file", "width", "height", "x", "y", ...}
        out["errors"] | beam.Map(print)      # {"file", "stage", "message"}

:class:`AttentionCenters` is the whole job of ``attention-center beam`` (match, reshuffle,
read, :class:`ImageCenters`, write ``centers.jsonl`` and ``errors.jsonl`` with
:class:`WriteJsonLines`), starting from a pipeline. Row formats and the output layout:
:mod:`attention_center.beam.records`.

Runner-independent by construction (the same outputs on FnApiRunner, Dataflow, Flink and
Beam's DaskRunner): every step has one output (a step that can fail emits ``(tag, value)``
pairs and :func:`values_of` picks one tag: no tagged outputs), nothing is emitted from
``finish_bundle`` unless ``batch_size > 1`` asks for ``BatchElements``, and no side inputs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Optional, Union

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import RunInference

from attention_center.beam import io as beam_io
from attention_center.beam.decode import (
    DEFAULT_MAX_BYTES,
    ERRORS,
    FRAMES,
    SKIPPED,
    DecodeFrames,
)
from attention_center.beam.finish import CENTERS, FinishImages, row_bytes
from attention_center.beam.model_handler import (
    METRICS_NAMESPACE,
    CenterModelHandler,
    DeadLetterKeyedModelHandler,
)
from attention_center.beam.records import OutputLayout, dead_letter
from attention_center.core.atomic import is_temporary
from attention_center.core.files import IMAGE_SUFFIXES
from attention_center.jxl.center_choice import check_center_strategy

__all__ = [
    "AttentionCenters",
    "ImageCenters",
    "ModelInfo",
    "WriteJsonLines",
    "is_image_path",
    "output_exclusions",
    "describe_model",
    "values_of",
]

#: The tag of :func:`_match_shard`'s files (its errors are tagged ``"errors"``).
FILES = "files"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the launcher learns by loading the model once: name, version, frame ``(H, W)``."""

    name: str
    version: str
    frame_hw: tuple[int, int]


def describe_model(handler: CenterModelHandler) -> ModelInfo:
    """Loads the handler's model here, once, to check it and read its version and frame.

    Raises:
      attention_center.inference.predictors.ModelLoadError: the model cannot be loaded.
    """
    loaded = handler.load_model()
    return ModelInfo(loaded.name, loaded.version, tuple(loaded.predictor.frame_hw))


def is_image_path(path: str, exclude: Union[str, Sequence[str], None] = None) -> bool:
    """Whether a matched file is an input: an image suffix (:data:`IMAGE_SUFFIXES`), not
    hidden (our temporaries start with a dot), not under ``exclude`` (a folder or several:
    :func:`output_exclusions`)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if name.startswith(".") or is_temporary(name):
        return False
    folders = [exclude] if isinstance(exclude, str) else list(exclude or ())
    if any(path.startswith(folder.rstrip("/") + "/") for folder in folders if folder):
        return False
    return "." in name and "." + name.rsplit(".", 1)[-1].lower() in IMAGE_SUFFIXES


def output_exclusions(input_glob: str, output_dir: str) -> tuple[str, ...]:
    """The folders whose files are never inputs of a job from ``input_glob`` to ``output_dir``.

    As ``attention-center encode`` does: an output folder inside the input glob's folder
    (:func:`~attention_center.beam.io.glob_base`) is left out whole; an output folder that
    is the glob's folder or above it (``--input /data/photos/** --output /data``) holds the
    inputs, so only the job's own folders in it, ``records/`` and ``jxl/``, are left out
    (its ``.jsonl`` files and temporaries are not images anyway).
    """
    base = beam_io.glob_base(beam_io.normalize(input_glob)).rstrip("/")
    out = beam_io.normalize(output_dir).rstrip("/")
    if out.startswith(base + "/"):
        return (out,)
    return (beam_io.join(out, "records"), beam_io.join(out, "jxl"))


def values_of(item: tuple, tag: str):
    """``FlatMap`` function: the value of a ``(tag, value)`` pair whose tag is ``tag``.

    A step that can fail emits ``(tag, value)`` pairs on its one output and a
    ``FlatMap(values_of, tag)`` per tag splits them (rather than tagged outputs, which Beam's
    DaskRunner sends down every branch).
    """
    if item[0] == tag:
        yield item[1]


def _one_frame_batch(keyed_frame):
    """``(key, frame)`` -> ``[(key, frame)]``: RunInference without BatchElements takes batches."""
    return [keyed_frame]


class ImageCenters(beam.PTransform):
    """Files -> ``{"centers": PCollection[dict], "errors": PCollection[dict]}``.

    Input: the elements of ``fileio.ReadMatches`` (or ``FileMetadata``, or path strings).
    Each is decoded (:class:`~attention_center.beam.decode.DecodeFrames`), batched and run
    through the model (``RunInference`` with
    :class:`~attention_center.beam.model_handler.CenterModelHandler`, loaded once per worker),
    its centre mapped back to the image as displayed and, with ``encode``, encoded
    (:class:`~attention_center.beam.finish.FinishImages`). A bad input becomes an
    ``errors`` row; it never stops the pipeline.

    Args:
      model: model spec (``None``/``"default"``, ``"large"``, a ``.tflite``/``.keras`` path,
        local or remote). Loaded once at construction to check it (:func:`describe_model`).
        A model failure on a frame is a ``"predict"`` dead letter
        (:class:`~attention_center.beam.model_handler.DeadLetterKeyedModelHandler`).
      base: the folder output names are relative to: pass the glob's folder
        (:func:`attention_center.beam.io.glob_base`). Default ``"/"``: local files are named
        by their absolute path, remote ones by a hash of it.
      output_dir: where records (and ``.jxl`` files) go; ``None`` writes nothing.
      encode: write ``OUT/jxl/<relative>.jxl`` (needs ``output_dir`` and cjxl on workers).
      skip_existing: leave inputs whose record exists (resume a killed run).
      batch_size: most frames per model call. 1 (the default): one frame per call, no
        ``BatchElements`` (it emits each bundle's last batch in ``finish_bundle``, which Beam
        2.77's DaskRunner drops: use 1 there); measured, batching gains nothing at one
        interpreter thread. model_threads: interpreter threads per worker;
      runtime: TFLite runtime (``"litert"``).
      max_bytes: larger files are dead-lettered unread.
      encoder, cjxl_flags, cjxl_threads, new_suffix: the cjxl binary, extra flags, threads and
        output suffix.
      center_strategy: which centre cjxl gets: ``"model"`` (the predicted centre) or
        ``"chosen"`` (``attention-center encode``'s default;
        :func:`~attention_center.beam.encode.encode_jxl`).
      num_shards: centre files (for the layout's names).
    """

    def __init__(
        self,
        model: Optional[str] = None,
        *,
        base: Optional[str] = None,
        output_dir: Optional[str] = None,
        encode: bool = False,
        skip_existing: bool = False,
        batch_size: int = 1,
        model_threads: Optional[int] = 1,
        runtime: str = "litert",
        max_bytes: int = DEFAULT_MAX_BYTES,
        encoder: str = "cjxl",
        cjxl_flags: Sequence[str] = (),
        cjxl_threads: Optional[int] = 1,
        new_suffix: str = "jxl",
        center_strategy: str = "model",
        num_shards: int = 1,
    ):
        super().__init__()
        if encode and output_dir is None:
            raise ValueError("encode=True needs an output_dir")
        check_center_strategy(center_strategy)
        self.handler = CenterModelHandler(
            model, num_threads=model_threads, runtime=runtime, max_batch_size=batch_size
        )
        self.model_info = describe_model(self.handler)
        self.layout = (
            OutputLayout(beam_io.normalize(output_dir), num_shards, new_suffix)
            if output_dir is not None
            else None
        )
        self._base = beam_io.normalize(base) if base else "/"
        self._encode = encode
        self._skip_existing = skip_existing
        self._max_bytes = max_bytes
        self._encoder = encoder
        self._cjxl_flags = tuple(cjxl_flags)
        self._cjxl_threads = cjxl_threads
        self._center_strategy = center_strategy
        self._batch_size = int(batch_size)

    def expand(self, files):
        decoded = files | "Decode" >> beam.ParDo(
            DecodeFrames(
                self._base,
                self.model_info.frame_hw,
                self.layout,
                self._skip_existing,
                self.model_info.version,
                self._encode,
                self._max_bytes,
            )
        )
        frames = decoded | "Frames" >> beam.FlatMap(values_of, FRAMES)
        model = DeadLetterKeyedModelHandler(self.handler)
        if self._batch_size <= 1:
            frames = frames | "OneFrameBatches" >> beam.Map(_one_frame_batch)
            model = model.with_no_batching()
        predicted = frames | "Predict" >> RunInference(model)
        finished = predicted | "Finish" >> beam.ParDo(
            FinishImages(
                self.model_info.name,
                self.layout,
                self._encode,
                self._encoder,
                self._cjxl_flags,
                self._cjxl_threads,
                self._center_strategy,
            )
        )
        done = finished | "Done" >> beam.FlatMap(values_of, CENTERS)
        skipped = decoded | "Skipped" >> beam.FlatMap(values_of, SKIPPED)
        decode_errors = decoded | "DecodeErrors" >> beam.FlatMap(values_of, ERRORS)
        finish_errors = finished | "FinishErrors" >> beam.FlatMap(values_of, ERRORS)
        centers = (done, skipped) | "Centers" >> beam.Flatten()
        errors = (decode_errors, finish_errors) | "Errors" >> beam.Flatten()
        return {"centers": centers, "errors": errors}


def _write_shard(item, paths: Sequence[str], sort_key: Callable[[dict], tuple]) -> dict:
    """Writes one shard's rows, sorted, unless the file already holds exactly them."""
    shard, rows = item
    rows = sorted(
        (row for row in rows if row is not None),
        key=lambda row: (sort_key(row), json.dumps(row, sort_keys=True)),
    )
    data = b"".join(row_bytes(row) for row in rows)
    wrote = beam_io.write_if_changed(paths[shard], data)
    return {"path": paths[shard], "rows": len(rows), "written": wrote}


class WriteJsonLines(beam.PTransform):
    """Rows -> JSON-lines files with fixed names and deterministic content.

    Each row goes to shard ``stable_hash(key(row)) % len(paths)``; each shard's rows are
    sorted and written atomically, and only when the content changed (a rerun that
    produces the same rows touches nothing). Every path is written, empty if need be.
    Output: one ``{"path", "rows", "written"}`` dict per file.

    Args:
      paths: the files, shard order.
      key: the row's identity (``row["file"]``), for sharding and sorting.
    """

    def __init__(self, paths: Sequence[str], key: Callable[[dict], tuple]):
        super().__init__()
        self._paths = list(paths)
        self._key = key

    def expand(self, rows):
        paths, key = self._paths, self._key
        keyed = rows | "Shard" >> beam.Map(
            lambda row: (beam_io.stable_hash(json.dumps(key(row))) % len(paths), row)
        )
        seeds = rows.pipeline | "EveryShard" >> beam.Create([(i, None) for i in range(len(paths))])
        return (
            (keyed, seeds)
            | "Flatten" >> beam.Flatten()
            | "Group" >> beam.GroupByKey()
            | "Write" >> beam.Map(_write_shard, paths, key)
        )


def _by_file(row: dict) -> tuple:
    return (row["file"],)


def _by_file_and_stage(row: dict) -> tuple:
    return (row["file"], row["stage"])


def _match_shard(shard: int, pattern: str, shards: int, exclude: Union[str, Sequence[str], None]):
    """One piece of the listing: ``(FILES, FileMetadata)`` for each image of ``pattern`` whose
    :func:`~attention_center.beam.io.stable_hash` falls in piece ``shard`` of ``shards``, and
    ``(ERRORS, row)`` (stage ``"read"``) for each matched image name that cannot be read as a
    file (a broken symbolic link, a symbolic link loop: Beam's listing drops them silently).
    Other files (:func:`is_image_path`) are counted as ``ignored``.
    """
    for entry in beam_io.match(pattern):
        if shards > 1 and beam_io.stable_hash(entry.path) % shards != shard:
            continue
        if not is_image_path(entry.path, exclude):
            Metrics.counter(METRICS_NAMESPACE, "ignored").inc()
        elif isinstance(entry, beam_io.Unreadable):
            Metrics.counter(METRICS_NAMESPACE, "errors").inc()
            yield ERRORS, dead_letter(entry.path, "read", entry.reason)
        else:
            yield FILES, entry


class AttentionCenters(beam.PTransform):
    """The whole job: ``pipeline | AttentionCenters(glob, output_dir, ...)``.

    Match the glob in ``list_shards`` pieces (:func:`_match_shard`: images only; the output
    folder, or when it holds the inputs its ``records/`` and ``jxl/``
    (:func:`output_exclusions`), and our temporaries are never inputs; unreadable entries
    are ``"read"`` dead letters) -> ``Reshuffle`` (spreads the files over workers: without
    it one worker does all) -> ``ReadMatches`` -> :class:`ImageCenters` -> ``centers.jsonl`` and
    ``errors.jsonl`` (:class:`WriteJsonLines`). Returns ``{"centers", "errors",
    "written"}``: the two row PCollections and the written files' summaries.

    Args:
      input_glob: a Beam file pattern (``/data/**.jpg``: every ``.jpg`` under ``/data``,
        ``gs://bucket/in/*``).
      output_dir: the output folder (layout: :mod:`attention_center.beam.records`).
      list_shards: pieces the listing is split into, each listing the glob and keeping the
        files whose path hashes to it. 1 suffices where ``Reshuffle`` redistributes
        (FnApiRunner, Dataflow, Flink); Beam's DaskRunner ignores ``Reshuffle``, so there
        each piece is one task, and their number is the job's parallelism
        (:func:`attention_center.beam.runners.list_shards`).
      **kwargs: as for :class:`ImageCenters` (``model``, ``encode``, ``skip_existing``, ...).
    """

    def __init__(self, input_glob: str, output_dir: str, list_shards: int = 1, **kwargs):
        super().__init__()
        self._glob = beam_io.normalize(input_glob)
        self._output_dir = beam_io.normalize(output_dir)
        self._exclude = output_exclusions(self._glob, self._output_dir)
        self._list_shards = max(1, int(list_shards))
        self.centers = ImageCenters(
            base=beam_io.glob_base(self._glob), output_dir=self._output_dir, **kwargs
        )

    def expand(self, pipeline):
        shards = self._list_shards
        listed = (
            pipeline
            | "ListShards" >> beam.Create(list(range(shards)))
            | "Match" >> beam.FlatMap(_match_shard, self._glob, shards, self._exclude)
        )
        files = (
            listed
            | "Images" >> beam.FlatMap(values_of, FILES)
            | "Reshuffle" >> beam.Reshuffle()
            | "Read" >> fileio.ReadMatches(compression=CompressionTypes.UNCOMPRESSED)
        )
        out = files | "Centers" >> self.centers
        match_errors = listed | "MatchErrors" >> beam.FlatMap(values_of, ERRORS)
        errors = (match_errors, out["errors"]) | "AllErrors" >> beam.Flatten()
        layout = self.centers.layout
        written_centers = out["centers"] | "WriteCenters" >> WriteJsonLines(
            layout.centers(), _by_file
        )
        written_errors = errors | "WriteErrors" >> WriteJsonLines(
            [layout.errors()], _by_file_and_stage
        )
        written = (written_centers, written_errors) | "Written" >> beam.Flatten()
        return {"centers": out["centers"], "errors": errors, "written": written}
