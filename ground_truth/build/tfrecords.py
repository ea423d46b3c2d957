"""Sharded TFRecords of the ground truth and the tf.data pipeline that re-filters them (TensorFlow
needed here only, imported inside the functions).

One ``tf.train.Example`` per (image, source) record, in
``DIR/tfrecords/<split>-<shard>-of-<shards>.tfrecord``. Features:

======================  =======  ==============================================
key                     type     meaning
======================  =======  ==============================================
``image_id``            bytes    ``"<dataset>/<stem>"``
``source``, ``modality``, ``split``, ``fallback``   bytes   as in the portable index
``image/encoded``       bytes    the image, **upright**: the original file when
                                 it is a JPEG/PNG without EXIF rotation, else
                                 re-encoded as PNG with the orientation applied
                                 (TensorFlow's decoders ignore EXIF)
``original_hw``         int64    ``[h, w]`` as displayed
``center``              float    ``[x, y]`` original pixels
``points``              float    kept points, flat ``[x0, y0, x1, y1, ...]``, original pixels
``observer_of_point``   int64    per kept point
``raw/points``          float    every recorded point, flat, original pixels (at most
                                 ``max_raw_points`` per observer), for re-filtering;
                                 NaN where validation dropped one (NaN or outside the
                                 image): it keeps its place for the temporal filter
``raw/observer``        int64    observer index per raw point
``raw/onset_ms``        float    onset per raw point (NaN: unknown)
``raw/onset_kind``      bytes    ``"real"`` (measured onsets), ``"durations"``
                                 (summed fixation durations) or ``"none"``
``num_observers``       int64
======================  =======  ==============================================
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from attention_center.core.atomic import atomic_path
from ground_truth import filters as F

__all__ = [
    "write_tfrecords",
    "read_tfrecords",
    "feature_spec",
    "parse_example",
    "upright_image_bytes",
    "onset_kind",
    "DEFAULT_MAX_RAW_POINTS",
]

#: Raw points kept per observer for re-filtering inside tf.data (mouse tracks are long).
DEFAULT_MAX_RAW_POINTS = 64


def upright_image_bytes(path) -> bytes:
    """The bytes of an image as displayed: unchanged if no EXIF rotation, else a PNG."""
    from attention_center.core.images import load_image

    path = Path(path)
    with Image.open(path) as image:
        fmt = image.format
        orientation = image.getexif().get(0x0112, 1)
        mode = image.mode
    if fmt in ("JPEG", "PNG") and orientation in (1, None) and mode in ("RGB", "L"):
        return path.read_bytes()
    buffer = io.BytesIO()
    Image.fromarray(load_image(path)).save(buffer, format="PNG")
    return buffer.getvalue()


def onset_kind(record) -> str:
    """``"real"``, ``"durations"`` or ``"none"``: where a record's onsets come from."""
    if record is None:
        return "none"
    if record.onset_ms is not None:
        return "real"
    return "durations" if record.duration_ms is not None else "none"


def _example(row: dict, record, image_bytes: bytes, max_raw_points: int):
    import tensorflow as tf

    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=v))

    def f(v):
        return tf.train.Feature(
            float_list=tf.train.FloatList(value=np.asarray(v, np.float32).reshape(-1))
        )

    def i(v):
        return tf.train.Feature(
            int64_list=tf.train.Int64List(value=np.asarray(v, np.int64).reshape(-1))
        )

    raw_pts, raw_obs, raw_on = [], [], []
    if record is not None:
        for k, obs in enumerate(record.observers):
            if record.recorded_index is None:
                n = min(len(obs), max_raw_points)
                raw_pts.append(obs[:n])
                raw_on.append(F.observer_onsets(record, k, n))
            else:  # the sequence as recorded: a point validation dropped is NaN, in place
                n = min(len(record.recorded_onset_ms[k]), max_raw_points)
                index = np.asarray(record.recorded_index[k], np.int64)
                points = np.full((n, 2), np.nan)
                points[index[index < n]] = obs[index < n]
                raw_pts.append(points)
                raw_on.append(np.asarray(record.recorded_onset_ms[k], np.float64)[:n])
            raw_obs.append(np.full(n, k))
    raw_pts = np.concatenate(raw_pts) if raw_pts else np.zeros((0, 2))
    raw_obs = np.concatenate(raw_obs) if raw_obs else np.zeros(0)
    raw_on = np.concatenate(raw_on) if raw_on else np.zeros(0)
    features = {
        "image_id": b([row["image_id"].encode()]),
        "source": b([row["source"].encode()]),
        "modality": b([row["modality"].encode()]),
        "split": b([row["split"].encode()]),
        "fallback": b([(row["fallback"] or "").encode()]),
        "image/encoded": b([image_bytes]),
        "original_hw": i(row["original_hw"]),
        "center": f(row["center"]),
        "points": f(row["points"]),
        "observer_of_point": i(row["observer_of_point"]),
        "raw/points": f(raw_pts),
        "raw/observer": i(raw_obs),
        "raw/onset_ms": f(raw_on),
        "num_observers": i([row["num_observers"]]),
        "raw/onset_kind": b([onset_kind(record).encode()]),
    }
    return tf.train.Example(features=tf.train.Features(feature=features))


def write_tfrecords(
    rows: Sequence[dict],
    out_dir,
    records: Optional[dict] = None,
    records_per_shard: int = 256,
    max_raw_points: int = DEFAULT_MAX_RAW_POINTS,
) -> list[str]:
    """Writes sharded TFRecords, one file set per split.

    Args:
      rows: portable index rows (:func:`ground_truth.build.records_to_rows`).
      out_dir: the build folder; files go to ``out_dir/tfrecords/``.
      records: optional ``{(image_id, source): Record}`` for the raw points.
      records_per_shard: records per file (about).
      max_raw_points: raw points kept per observer.
    Returns:
      the paths written. Each file is written to a temp name and renamed.
    """
    import tensorflow as tf

    folder = Path(out_dir) / "tfrecords"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    cache: dict = {}
    for split in ("train", "val", "test"):
        selected = sorted(
            (r for r in rows if r["split"] == split), key=lambda r: (r["image_id"], r["source"])
        )
        if not selected:
            continue
        shards = max(1, math.ceil(len(selected) / records_per_shard))
        for shard in range(shards):
            path = folder / f"{split}-{shard:05d}-of-{shards:05d}.tfrecord"
            with atomic_path(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
                for row in selected[shard::shards]:
                    image_path = Path(row["data_dir"]) / row["image_path"]
                    if row["image_id"] not in cache:
                        cache.clear()  # rows are sorted by image: keep one image's bytes
                        cache[row["image_id"]] = upright_image_bytes(image_path)
                    record = (records or {}).get((row["image_id"], row["source"]))
                    example = _example(row, record, cache[row["image_id"]], max_raw_points)
                    writer.write(example.SerializeToString())
            written.append(str(path))
    return written


def feature_spec() -> dict:
    """The ``tf.io.parse_single_example`` spec of the records."""
    import tensorflow as tf

    s = tf.io.FixedLenFeature([], tf.string)
    v = tf.io.VarLenFeature
    return {
        "image_id": s,
        "source": s,
        "modality": s,
        "split": s,
        "fallback": s,
        "image/encoded": s,
        "original_hw": tf.io.FixedLenFeature([2], tf.int64),
        "center": tf.io.FixedLenFeature([2], tf.float32),
        "points": v(tf.float32),
        "observer_of_point": v(tf.int64),
        "raw/points": v(tf.float32),
        "raw/observer": v(tf.int64),
        "raw/onset_ms": v(tf.float32),
        "num_observers": tf.io.FixedLenFeature([1], tf.int64),
        "raw/onset_kind": tf.io.FixedLenFeature([], tf.string, default_value=b"none"),
    }


def parse_example(serialized):
    """Parses one serialized example into dense tensors (points as ``[n, 2]``)."""
    import tensorflow as tf

    parsed = tf.io.parse_single_example(serialized, feature_spec())
    out = {}
    for key, value in parsed.items():
        out[key] = tf.sparse.to_dense(value) if isinstance(value, tf.SparseTensor) else value
    out["points"] = tf.reshape(out["points"], [-1, 2])
    out["raw/points"] = tf.reshape(out["raw/points"], [-1, 2])
    return out


def read_tfrecords(
    files, split: Optional[str] = None, sources: Optional[Sequence[str]] = None, refilter=None
):
    """The ground-truth ``tf.data`` pipeline over TFRecords: records -> (re-)filtered centres.

    Args:
      files: TFRecord paths, or one glob (``"DIR/tfrecords/*.tfrecord"``).
      split: keep only this split (``"train"``, ``"val"``, ``"test"``).
      sources: keep only these sources.
      refilter: ``None``: the centres and kept points the builder stored. ``True``: the
        temporal and spatial filters and the centre run again inside tf.data on the raw
        points (:func:`ground_truth.filters.filter_flat`, the builder's code) with each
        record's default parameters (:func:`ground_truth.filters.params_for`); a
        ``(TemporalParams, SpatialParams)`` pair: those parameters for every record.
    Returns:
      ``tf.data.Dataset`` of dicts, one per record: ``"image/encoded"`` (bytes, upright),
      ``"image_id"``, ``"source"``, ``"split"``, ``"modality"`` (strings),
      ``"original_hw"`` (``int64 [2]``, ``(h, w)``), ``"center"`` (``float32 [2]``,
      ``(x, y)`` 0-based pixels of the original image) and ``"points"`` (``float32 [n, 2]``,
      the kept points, same frame).
    Raises:
      ValueError: no file matches.
    """
    import glob as globlib

    import tensorflow as tf

    paths = sorted(globlib.glob(files)) if isinstance(files, (str, Path)) else list(files)
    if not paths:
        raise ValueError(f"no TFRecord files match {files!r}")
    ds = tf.data.TFRecordDataset([str(p) for p in paths])
    ds = ds.map(parse_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if sources is not None:
        wanted = tf.constant(list(sources))
        ds = ds.filter(lambda e: tf.reduce_any(tf.equal(e["source"], wanted)))
    if split is not None:
        ds = ds.filter(lambda e: tf.equal(e["split"], split))

    def refiltered(e):
        def run(points, observer, onsets, hw, modality, kind):
            if refilter is True:
                params = F.params_for(modality.decode(), has_onsets=kind == b"real")
            else:
                params = refilter
            return F.filter_flat(points, observer, onsets, hw, *params)

        hw = tf.cast(e["original_hw"], tf.float32)
        center, kept, _ = tf.numpy_function(
            run,
            [
                e["raw/points"],
                e["raw/observer"],
                e["raw/onset_ms"],
                hw,
                e["modality"],
                e["raw/onset_kind"],
            ],
            [tf.float32, tf.bool, tf.int32],
            stateful=False,
        )
        return dict(
            e,
            center=tf.reshape(center, [2]),
            points=tf.boolean_mask(e["raw/points"], tf.reshape(kept, [-1])),
        )

    if refilter is not None:
        ds = ds.map(refiltered, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    keys = (
        "image/encoded",
        "image_id",
        "source",
        "split",
        "modality",
        "original_hw",
        "center",
        "points",
    )
    return ds.map(lambda e: {k: e[k] for k in keys})
