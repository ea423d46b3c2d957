"""tf.data input pipeline: images fitted into the model frame, centres and density maps.

:func:`make_dataset` reads either a portable build directory (``index.jsonl``
+ ``frames/``) or TFRecord files (:mod:`ground_truth.tfrecords`) and yields
``(frames, targets)``:

* ``frames``: ``float32 [B, H, W, 3]`` RGB in [0, 1] (``frame_hw = (H, W)``),
  fitted with ``tf.image.resize_with_pad`` (bicubic, antialiased);
* ``targets["center"]``: ``float32 [B, 2]``, ``(x, y)`` in frame pixels;
* ``targets["density"]``: ``float32 [B, H/s, W/s, 1]`` (``s = density_stride``,
  4 by default), the kept points blurred by a Gaussian of about one degree
  (:mod:`attention_center.core.density`), summing to 1 (all zeros when no point).

Points and centres move to the frame with
:func:`attention_center.core.frames.frame_transform` (``tf.floor``/``tf.maximum``),
the project's only coordinate transform. Augmentations (training) keep the
targets right: a horizontal flip mirrors x (``x' = W - 1 - x``); a random
zoom-crop (scale ``s`` in ``[1, max_zoom]``, a crop anywhere in the frame
that still contains the centre) maps ``x' = (x - x0) * s``; colour jitter leaves the targets alone. With
``deterministic=True`` every random choice comes from stateless ops seeded by
``(seed, element index)`` and the element order is fixed.
"""

from __future__ import annotations

import glob as globlib
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from attention_center.core import density as D
from attention_center.core.frames import frame_transform
from attention_center.core.ground_truth_index import read_index
from ground_truth import filters as F

__all__ = ["make_dataset", "augment_example", "density_for"]


def _tf():
    import tensorflow as tf

    return tf


def density_for(points_frame, content_hw, map_hw, stride: int, sigma_fraction: float):
    """``float32 [h, w, 1]`` density map from frame points (numpy; run through tf.numpy_function)."""
    points = np.asarray(points_frame, np.float64).reshape(-1, 2)
    points = (points + 0.5) / stride - 0.5
    sigma = D.sigma_for(np.asarray(content_hw, np.float64) / stride, sigma_fraction)
    return D.density_map(points, map_hw, max(sigma, 0.5))[..., None]


def _seeds(tf, seed, index, deterministic):
    if deterministic:
        base = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
    else:
        base = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
    return [base + tf.constant([0, k * 1_000_003], tf.int64) for k in range(8)]


def augment_example(image, points, center, content_hw, seeds, max_zoom: float = 1.25,
                    flip: bool = True, jitter: bool = True):
    """Random flip, zoom-crop and colour jitter of one frame and its targets.

    Args:
      image: ``float32 [H, W, 3]`` in [0, 1].
      points: ``float32 [n, 2]`` frame pixels.
      center: ``float32 [2]`` frame pixels.
      content_hw: ``float32 [2]``, size of the image content inside the frame
        (scales with the zoom; sets the density's sigma).
      seeds: list of stateless seeds (shape ``[2]`` int64), at least 6.
    Returns:
      ``(image, points, center, content_hw)`` transformed alike.
    """
    tf = _tf()
    h = tf.cast(tf.shape(image)[0], tf.float32)
    w = tf.cast(tf.shape(image)[1], tf.float32)
    if flip:
        do_flip = tf.random.stateless_uniform([], seeds[0]) < 0.5
        image = tf.cond(do_flip, lambda: tf.image.flip_left_right(image), lambda: image)
        sign = tf.where(do_flip, -1.0, 1.0)
        offset = tf.where(do_flip, w - 1.0, 0.0)
        points = tf.stack([offset + sign * points[:, 0], points[:, 1]], axis=1)
        center = tf.stack([offset + sign * center[0], center[1]])
    if max_zoom > 1.0:
        scale = tf.random.stateless_uniform([], seeds[1], 1.0, max_zoom)
        # The crop [x0, x0 + (W - 1) / s] lies in the frame and contains the centre.
        cx = tf.clip_by_value(center[0], 0.0, w - 1.0)
        cy = tf.clip_by_value(center[1], 0.0, h - 1.0)
        x_lo = tf.maximum(0.0, cx - (w - 1.0) / scale)
        x_hi = tf.minimum((w - 1.0) * (1.0 - 1.0 / scale), cx)
        y_lo = tf.maximum(0.0, cy - (h - 1.0) / scale)
        y_hi = tf.minimum((h - 1.0) * (1.0 - 1.0 / scale), cy)
        x0 = x_lo + tf.random.stateless_uniform([], seeds[2]) * tf.maximum(x_hi - x_lo, 0.0)
        y0 = y_lo + tf.random.stateless_uniform([], seeds[3]) * tf.maximum(y_hi - y_lo, 0.0)
        box = tf.stack([y0 / (h - 1.0), x0 / (w - 1.0),
                        (y0 + (h - 1.0) / scale) / (h - 1.0), (x0 + (w - 1.0) / scale) / (w - 1.0)])
        image = tf.image.crop_and_resize(image[None], box[None], [0],
                                         tf.cast(tf.stack([h, w]), tf.int32))[0]
        origin = tf.stack([x0, y0])
        points = (points - origin) * scale
        center = (center - origin) * scale
        content_hw = content_hw * scale
    if jitter:
        image = tf.image.stateless_random_brightness(image, 0.1, seeds[4])
        image = tf.image.stateless_random_contrast(image, 0.8, 1.2, seeds[5])
        image = tf.image.stateless_random_saturation(image, 0.8, 1.2, seeds[6])
        image = tf.clip_by_value(image, 0.0, 1.0)
    return image, points, center, content_hw


def _portable_elements(build_dir, split, sources):
    rows = read_index(build_dir, split=split, sources=sources)
    if not rows:
        raise ValueError(f"{build_dir}: no records for split={split!r}, sources={sources!r}")
    return {
        "frame_path": [r["frame_abspath"] for r in rows],
        "stored_hw": np.array([r["frame_hw"] for r in rows], np.float32),
        "original_hw": np.array([r["original_hw"] for r in rows], np.float32),
        "center": np.array([r["center_frame"] for r in rows], np.float32),
        "points": [np.asarray(r["points_frame"], np.float32).reshape(-1, 2) for r in rows],
    }


def make_dataset(source, frame_hw=(240, 320), split: Optional[str] = None,
                 sources: Optional[Sequence[str]] = None, training: bool = False,
                 augment: Optional[bool] = None, deterministic: bool = False,
                 batch_size: int = 8, seed: int = 0, shuffle_buffer: int = 1024,
                 cache=False, density_stride: int = 4,
                 sigma_fraction: float = D.SIGMA_FRACTION, max_zoom: float = 1.25,
                 refilter: Optional[tuple] = None, repeat: bool = False,
                 drop_remainder: Optional[bool] = None, num_parallel_calls=None):
    """The training / evaluation ``tf.data.Dataset``.

    Args:
      source: a portable build directory (has ``index.jsonl``), or a TFRecord
        glob / list of files (e.g. ``"DIR/tfrecords/train-*"``).
      frame_hw: ``(H, W)`` of the model input.
      split: with a portable directory, keep only this split.
      sources: keep only these sources (e.g. ``["osie_eye", "scene_eye"]``).
      training: shuffle (and augment unless ``augment=False``).
      augment: flip / zoom-crop / colour jitter (default: ``training``).
      deterministic: fixed order and stateless seeded augmentation.
      batch_size: examples per batch.
      seed: shuffle and augmentation seed.
      cache: ``True`` (memory) or a file prefix: caches decoded, resized
        frames before augmentation (``float32``: ``H*W*12`` bytes per record).
      density_stride: the density map is ``frame_hw / density_stride``.
      sigma_fraction: Gaussian sigma as a fraction of the content's longer side.
      refilter: recompute centres and kept points from the raw points inside
        tf.data (TFRecords only) with :func:`ground_truth.filters.filter_flat`
        (the builder's code): ``True`` for each record's default parameters
        (:func:`ground_truth.filters.params_for`), or a ``(TemporalParams,
        SpatialParams)`` pair for all records.
      repeat: repeat forever.
      drop_remainder: default ``training``.
    Returns:
      ``tf.data.Dataset`` of ``(frames [B, H, W, 3], {"center": [B, 2],
      "density": [B, H/s, W/s, 1]})``, all ``float32``.
    """
    tf = _tf()
    autotune = num_parallel_calls or tf.data.AUTOTUNE
    H, W = int(frame_hw[0]), int(frame_hw[1])
    map_hw = (H // density_stride, W // density_stride)
    augment = training if augment is None else augment
    drop_remainder = training if drop_remainder is None else drop_remainder
    src = str(source) if not isinstance(source, (list, tuple)) else None

    def content_of(original_hw):
        t = frame_transform((original_hw[0], original_hw[1]), (H, W), floor=tf.floor,
                            maximum=tf.maximum)
        return t, tf.stack([t.resized_hw[0], t.resized_hw[1]])

    if src is not None and (Path(src) / "index.jsonl").is_file():
        if refilter is not None:
            raise ValueError("refilter needs TFRecords (the portable index holds kept points only)")
        elements = _portable_elements(src, split, sources)
        ds = tf.data.Dataset.from_tensor_slices({
            "frame_path": elements["frame_path"],
            "stored_hw": elements["stored_hw"],
            "original_hw": elements["original_hw"],
            "center": elements["center"],
            "points": tf.ragged.constant(elements["points"], dtype=tf.float32, ragged_rank=1,
                                         inner_shape=(2,)),
        })

        def load(e):
            image = tf.io.decode_jpeg(tf.io.read_file(e["frame_path"]), channels=3)
            image = tf.image.convert_image_dtype(image, tf.float32)
            stored = e["stored_hw"]
            image = tf.image.resize_with_pad(image, H, W, method="bicubic", antialias=True)
            t = frame_transform((stored[0], stored[1]), (H, W), floor=tf.floor, maximum=tf.maximum)
            points = e["points"].to_tensor() if hasattr(e["points"], "to_tensor") else e["points"]
            x, y = t.to_frame(points[:, 0], points[:, 1])
            cx, cy = t.to_frame(e["center"][0], e["center"][1])
            _, content = content_of(e["original_hw"])
            return {"image": tf.clip_by_value(image, 0.0, 1.0), "points": tf.stack([x, y], 1),
                    "center": tf.stack([cx, cy]), "content_hw": content}
    else:
        files = list(source) if src is None else sorted(globlib.glob(src))
        if not files:
            raise ValueError(f"no TFRecord files match {source!r}")
        from ground_truth.tfrecords import parse_example

        ds = tf.data.TFRecordDataset(files)
        ds = ds.map(parse_example, num_parallel_calls=autotune, deterministic=True)
        if sources is not None:
            wanted = tf.constant(list(sources))
            ds = ds.filter(lambda e: tf.reduce_any(tf.equal(e["source"], wanted)))
        if split is not None:
            ds = ds.filter(lambda e: tf.equal(e["split"], split))

        def load(e):
            image = tf.io.decode_image(e["image/encoded"], channels=3, expand_animations=False)
            image = tf.image.convert_image_dtype(image, tf.float32)
            image = tf.image.resize_with_pad(image, H, W, method="bicubic", antialias=True)
            hw = tf.cast(e["original_hw"], tf.float32)
            points, center = e["points"], e["center"]
            if refilter is not None:
                def run(p, o, on, ohw, modality, kind):
                    if refilter is True:
                        params = F.params_for(modality.decode(), has_onsets=kind == b"real")
                    else:
                        params = refilter
                    return F.filter_flat(p, o, on, ohw, *params)

                c, kept, _ = tf.numpy_function(
                    run, [e["raw/points"], e["raw/observer"], e["raw/onset_ms"], hw,
                          e["modality"], e["raw/onset_kind"]],
                    [tf.float32, tf.bool, tf.int32], stateful=False)
                center = tf.reshape(c, [2])
                points = tf.boolean_mask(e["raw/points"], tf.reshape(kept, [-1]))
            t, content = content_of(hw)
            x, y = t.to_frame(points[:, 0], points[:, 1])
            cx, cy = t.to_frame(center[0], center[1])
            return {"image": tf.clip_by_value(image, 0.0, 1.0), "points": tf.stack([x, y], 1),
                    "center": tf.stack([cx, cy]), "content_hw": content}

    ds = ds.map(load, num_parallel_calls=autotune, deterministic=True)
    if cache:
        ds = ds.cache() if cache is True else ds.cache(str(cache))
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.enumerate()

    def finish(index, e):
        image, points, center, content = e["image"], e["points"], e["center"], e["content_hw"]
        if augment:
            seeds = _seeds(tf, seed, index, deterministic)
            image, points, center, content = augment_example(image, points, center, content,
                                                             seeds, max_zoom=max_zoom)
        density = tf.numpy_function(
            lambda p, c: density_for(p, c, map_hw, density_stride, sigma_fraction),
            [points, content], tf.float32, stateful=False)
        density = tf.ensure_shape(density, [map_hw[0], map_hw[1], 1])
        image = tf.ensure_shape(image, [H, W, 3])
        return image, {"center": tf.ensure_shape(center, [2]), "density": density}

    ds = ds.map(finish, num_parallel_calls=autotune, deterministic=deterministic or None)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    ds = ds.with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE)
