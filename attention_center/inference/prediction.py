"""Attention centres of images, in their original pixels: the Python API.

::

    import attention_center as ac
    ac.predict("photo.jpg")                       # float64 [2]: (x, y), bundled model
    ac.predict(["a.jpg", "b.png"], model="google_center.tflite")   # float64 [2, 2]

(:func:`predict` is exported as ``attention_center.predict``; this module is
``attention_center.inference.prediction`` so that the name ``attention_center.predict``
is the function, never a module.)

Every model sees the same input: :func:`attention_center.core.images.load_image`
(EXIF orientation applied) then :func:`~attention_center.core.images.resize_with_pad`
into the model's frame; the centre goes back with
:meth:`~attention_center.core.frames.FrameTransform.to_original` (clamped to the
image). Centres are therefore (x, y), 0-based pixel centres of the image *as
displayed* (upright).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
from collections.abc import Iterable, Iterator, Sized
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np
from PIL import Image, ImageOps

from attention_center.core.frames import FrameTransform
from attention_center.core.images import (
    DEFAULT_MAX_PIXELS,
    ImageLoadError,
    decode_image,
    decode_into_frame,
    resize_with_pad,
    rgb_pixels,
)
from attention_center.inference.predictors import Predictor, load_predictor

__all__ = [
    "Prediction",
    "as_rgb_array",
    "default_decode_threads",
    "image_sources",
    "predict",
    "predict_images",
]


@dataclasses.dataclass
class Prediction:
    """The centre of one image, or why there is none.

    Attributes:
      source: the file path, or ``"<array i>"`` for an in-memory image.
      center: ``float64 [2]``, (x, y) in original (displayed) pixels, clamped
        to ``[0, w - 1] x [0, h - 1]``; ``None`` on error.
      frame_center: ``float64 [2]``, the model's (x, y) in frame pixels (not clamped).
      original_hw: ``(h, w)`` of the image as displayed.
      transform: the :class:`FrameTransform` between image and frame.
      weight_map: ``float32 [h', w']`` weighting map on the frame grid, when
        the model gives one and it was asked for; else ``None``.
      image: the decoded ``uint8 [h, w, 3]`` image, when asked for.
      error: ``None``, or one line naming the problem (the file is named by ``source``).
      notes: remarks on an image that did get a centre (e.g. an animated image's first
        frame was used).
    """

    source: str
    center: Optional[np.ndarray] = None
    frame_center: Optional[np.ndarray] = None
    original_hw: Optional[tuple[int, int]] = None
    transform: Optional[FrameTransform] = None
    weight_map: Optional[np.ndarray] = None
    image: Optional[np.ndarray] = None
    error: Optional[str] = None
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


_EXPECTED = (
    "an image file path, a PIL image, a uint8 array [h, w, 3] (or [h, w] or [h, w, 1] gray, "
    "[h, w, 4] RGBA) with values 0..255, or a float array of that shape with values "
    "in [0, 1]"
)


def as_rgb_array(item, label: str = "image") -> np.ndarray:
    """An in-memory image (numpy or PIL) -> ``uint8 [h, w, 3]``, validated.

    Accepts ``uint8`` arrays (0..255) and float arrays with every value in ``[0, 1]`` (RGBA
    is composited on white, as files are; gray, ``[h, w]`` or ``[h, w, 1]``, is repeated),
    and PIL images of any mode
    (as image files are: turned upright by their EXIF orientation, so the centre is in
    pixels of the image as displayed, then converted by
    :func:`~attention_center.core.images.rgb_pixels`: 16-bit gray scaled, not clipped; a
    palette's transparency composited on white). Arrays are taken as displayed. Float
    values are never clipped: a float image in 0..255 is an error, not a white image.

    Raises:
      ValueError: anything else (``None``, numbers, NaN or infinite values, floats outside
        [0, 1], other integer types, wrong rank or channels, empty images), saying what was
        expected.
    """
    if isinstance(item, Image.Image):  # upright and converted as an image file of that mode is
        item = rgb_pixels(ImageOps.exif_transpose(item))
    if not isinstance(item, np.ndarray):
        raise ValueError(f"{label}: got {type(item).__name__}; expected {_EXPECTED}")
    array = item
    if (
        array.dtype == np.uint8
        and array.ndim == 3
        and array.shape[-1] == 3
        and min(array.shape[:2])
    ):
        return array  # already what the model path takes
    if array.ndim == 3 and array.shape[-1] == 1:  # gray with a channel axis, as Keras has it
        array = array[..., 0]
    if array.ndim == 2:
        array = array[..., None].repeat(3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4) or min(array.shape[:2]) < 1:
        raise ValueError(f"{label}: an array of shape {list(item.shape)}; expected {_EXPECTED}")
    if array.dtype == np.uint8:
        rgb = array.astype(np.float32) / 255.0
    elif np.issubdtype(array.dtype, np.floating):
        rgb = np.asarray(array, np.float32)
        if not np.isfinite(rgb).all():
            raise ValueError(f"{label}: the array has NaN or infinite values; expected {_EXPECTED}")
        low, high = float(rgb.min()), float(rgb.max())
        if low < 0.0 or high > 1.0:
            hint = (
                "for 0..255 values pass a uint8 array"
                if high > 2.0  # values that look like 0..255, not a resize's overshoot
                else "clip them to [0, 1] first, e.g. np.clip(image, 0, 1)"
            )
            raise ValueError(f"{label}: float values span [{low:g}, {high:g}], not [0, 1] ({hint})")
    else:
        raise ValueError(f"{label}: an array of dtype {array.dtype}; expected {_EXPECTED}")
    if rgb.shape[-1] == 4:  # composite on white, as load_image does for files
        alpha = rgb[..., 3:]
        rgb = rgb[..., :3] * alpha + (1.0 - alpha)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def image_sources(images_or_paths) -> tuple[list, bool]:
    """Normalizes :func:`predict`'s argument to a list; says whether it was a single item.

    A ``bytes`` object is one path (as :func:`os.fspath` takes it), given back as ``str``.

    Raises:
      ValueError: something that is neither an image, a path nor a sequence of them.
    """
    if isinstance(images_or_paths, bytes):
        return [os.fsdecode(images_or_paths)], True
    if isinstance(images_or_paths, (str, os.PathLike, Image.Image)):
        return [images_or_paths], True
    if isinstance(images_or_paths, np.ndarray):
        if images_or_paths.ndim == 4:
            return list(images_or_paths), False
        return [images_or_paths], True
    if images_or_paths is None or not hasattr(images_or_paths, "__iter__"):
        raise ValueError(
            f"got {type(images_or_paths).__name__}; expected {_EXPECTED}, or a sequence of those"
        )
    items = [os.fsdecode(item) if isinstance(item, bytes) else item for item in images_or_paths]
    for index, item in enumerate(items):
        if not isinstance(item, (str, os.PathLike, Image.Image, np.ndarray)):
            raise ValueError(f"item {index}: got {type(item).__name__}; expected {_EXPECTED}")
    return items, False


#: The most decode threads :func:`predict_images` starts by default: with more, decoding
#: outruns the model anyway, and each thread holds one more image.
MAX_DECODE_THREADS = 4

#: The name prefix of :func:`predict_images`' decode threads.
DECODE_THREAD_PREFIX = "attention-center-decode"


def default_decode_threads() -> int:
    """Decode threads :func:`predict_images` uses by default: the CPUs this process may
    run on (``os.sched_getaffinity``), at most :data:`MAX_DECODE_THREADS`; 1 (no prefetch)
    on one CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_DECODE_THREADS, cpus))


def _check_decode_threads(decode_threads) -> int:
    if decode_threads is None:
        return default_decode_threads()
    if (
        isinstance(decode_threads, bool)
        or not isinstance(decode_threads, int)
        or decode_threads < 0
    ):
        raise ValueError(f"decode_threads must be None or an int >= 0, got {decode_threads!r}")
    return decode_threads


def _prepared(
    index: int, item, frame_hw, keep_images: bool, max_pixels: Optional[int]
) -> tuple[Prediction, Optional[np.ndarray]]:
    """One item decoded into the model frame: ``(prediction, frame)``, or ``(prediction with
    error, None)`` for a file that cannot be read.

    Raises:
      ValueError: an invalid in-memory image (:func:`as_rgb_array`).
    """
    image, notes = None, ()
    if isinstance(item, bytes):  # a path, as os.fspath takes it
        item = os.fsdecode(item)
    if isinstance(item, (str, os.PathLike)):
        label = os.fspath(item)
        try:
            if keep_images:
                decoded = decode_image(item, max_pixels=max_pixels)
                frame, transform = resize_with_pad(decoded.pixels, frame_hw)
                image = decoded.pixels
            else:
                frame, transform, decoded = decode_into_frame(item, frame_hw, max_pixels=max_pixels)
            original_hw, notes = decoded.original_hw, decoded.notes
        except ImageLoadError as error:
            return Prediction(source=label, error=error.reason), None
    else:
        label = f"<array {index}>"
        pixels = as_rgb_array(item, label)
        frame, transform = resize_with_pad(pixels, frame_hw)
        original_hw = tuple(pixels.shape[:2])
        image = pixels if keep_images else None
    prediction = Prediction(
        source=label,
        original_hw=tuple(original_hw),
        transform=transform,
        image=image,
        notes=tuple(notes),
    )
    return prediction, frame


def _prefetched(prepare, items: Iterable, threads: int) -> Iterator:
    """``prepare(index, item)`` for each item, in order, computed by ``threads`` threads at
    most ``threads + 1`` items ahead of the consumer (what an exception raises comes out at
    its item's turn). 0 or 1 thread: in the calling thread, one item at a time.

    Closing the generator (or an exception in it, e.g. a ``KeyboardInterrupt`` while it
    waits) cancels the items not started and lets the threads go: each finishes at most the
    one decode it is in, nothing waits for it.
    """
    if threads <= 1:
        for index, item in enumerate(items):
            yield prepare(index, item)
        return

    ahead = threads + 1
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=DECODE_THREAD_PREFIX)
    futures: collections.deque = collections.deque()
    try:
        for index, item in enumerate(items):
            futures.append(executor.submit(prepare, index, item))
            if len(futures) > ahead:
                yield futures.popleft().result()
        while futures:
            yield futures.popleft().result()
    finally:
        for future in futures:
            future.cancel()
        executor.shutdown(wait=False, cancel_futures=True)


def predict_images(
    items: Iterable,
    predictor: Predictor,
    batch_size: int = 8,
    keep_images: bool = False,
    keep_weight_maps: bool = False,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    decode_threads: Optional[int] = None,
) -> Iterator[Prediction]:
    """Predicts the centre of each image, in batches, one :class:`Prediction` per item, in order.

    Each image is decoded once, straight into the model frame
    (:func:`attention_center.core.images.decode_into_frame`: a large JPEG at a reduced DCT
    scale unless ``keep_images``); a file that cannot be read yields a :class:`Prediction`
    with ``error`` set and the others go on. Images are decoded by ``decode_threads``
    threads while the model runs, a few ahead of the one being predicted (memory: about
    ``batch_size + decode_threads`` images); the centres and their order are those of a
    serial run. Closing the generator (a ``for`` loop left by an exception, then the
    generator dropped) stops the decoding.

    Args:
      items: paths (``str``, ``bytes`` or path-like), or images as :func:`as_rgb_array`
        accepts (an invalid in-memory image raises ``ValueError``: it is a programming
        error, not a bad file).
      predictor: from :func:`attention_center.inference.predictors.load_predictor`.
      batch_size: images decoded and run together (bounds memory). A predictor that runs
        one frame at a time (a TFLite model: its ``useful_batch_size`` is 1) gets each image
        as soon as it is decoded.
      keep_images: keep the full decoded image in ``Prediction.image``.
      keep_weight_maps: keep the weighting map (``[h', w']``) when the model has one.
      max_pixels: refuse larger image files (``None``: no limit).
      decode_threads: threads decoding ahead; ``None``: :func:`default_decode_threads`
        (the CPUs available, at most :data:`MAX_DECODE_THREADS`); 0 or 1: each image is
        decoded in the calling thread when its turn comes.
    Raises:
      ValueError: ``decode_threads`` not ``None`` or an int >= 0; an invalid in-memory image.
    """
    threads = _check_decode_threads(decode_threads)
    if isinstance(items, Sized):
        threads = min(threads, len(items))  # one image: no thread to start
    batch_size = max(1, int(batch_size))
    useful = getattr(predictor, "useful_batch_size", None)
    if useful is not None:  # holding more frames than the model takes at once only costs memory
        batch_size = min(batch_size, max(1, int(useful)))
    pending: list[tuple[Prediction, np.ndarray]] = []

    def flush():
        if not pending:
            return
        if len(pending) == 1:
            frames = pending[0][1][None]  # a view: no copy for one frame
        else:
            frames = np.stack([frame for _, frame in pending])
        out = predictor.predict_frames(frames)
        for i, (prediction, _) in enumerate(pending):
            frame_center = np.asarray(out["center"][i], np.float64)
            prediction.frame_center = frame_center
            prediction.center = prediction.transform.points_to_original(frame_center, clamp=True)
            if keep_weight_maps and out.get("weight_map") is not None:
                prediction.weight_map = np.asarray(out["weight_map"][i], np.float32)[..., 0]
        pending.clear()

    def prepare(index, item):
        return _prepared(index, item, predictor.frame_hw, keep_images, max_pixels)

    prepared = _prefetched(prepare, items, threads)
    ordered: list[Prediction] = []  # errors wait here so the output stays in input order
    try:
        for prediction, frame in prepared:
            if frame is None:  # the file could not be read: the reason is in the prediction
                if pending:
                    ordered.append(prediction)
                else:
                    yield prediction
                continue
            ordered.append(prediction)
            pending.append((prediction, frame))
            if len(pending) >= batch_size:
                flush()
                yield from ordered
                ordered.clear()
        flush()
        yield from ordered
    finally:
        prepared.close()  # stops the decode threads now, not when the generator is collected


def predict(
    images_or_paths,
    model=None,
    batch_size: int = 8,
    num_threads: Optional[int] = None,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    decode_threads: Optional[int] = None,
) -> np.ndarray:
    """Attention centres of images, in original pixels.

    Args:
      images_or_paths: a path (``str``, ``bytes`` or path-like), an image (``uint8 [h, w, 3]``,
        float in [0, 1], or PIL), a batch ``[B, h, w, 3]``, or a sequence of any of these.
      model: ``None`` for the default preset (its ``.tflite``), a preset name
        (``"large"``, ``"default:keras"``), a ``.keras`` or ``.tflite`` path (Google's
        ``center.tflite`` works), a ``keras.Model``, or a
        :class:`~attention_center.inference.predictors.Predictor`. Loaded models are
        cached: calling ``predict`` in a loop loads the model once.
      batch_size: images run through the model together.
      num_threads: TFLite interpreter threads, >= 1 (default: the number of CPUs).
      max_pixels: refuse larger image files (default 100 MP; ``None``: no limit).
      decode_threads: threads decoding image files while the model runs (default: the
        CPUs available, at most 4; 0 or 1: one image at a time, in the calling thread).
    Returns:
      ``float64 [2]`` (x, y) for a single image, else ``float64 [N, 2]``;
      0-based pixel centres of each image as displayed (EXIF applied).
    Raises:
      ImageLoadError: an image file cannot be read (naming the file); use
        :func:`predict_images` to get every image's result or error instead.
      ValueError: an argument that is not an image (see :func:`as_rgb_array`), or
        ``num_threads`` below 1, ``decode_threads`` below 0.
      ModelLoadError: the model cannot be loaded (the message names the file or preset).
    """
    items, single = image_sources(images_or_paths)
    _check_decode_threads(decode_threads)
    # Every in-memory image is validated (and converted, once) before any work.
    items = [
        item
        if isinstance(item, (str, os.PathLike))
        else as_rgb_array(item, "image" if single else f"<array {index}>")
        for index, item in enumerate(items)
    ]
    predictor = load_predictor(model, num_threads=num_threads, batch_size=batch_size)
    centers = []
    stream = predict_images(
        items,
        predictor,
        batch_size=batch_size,
        max_pixels=max_pixels,
        decode_threads=decode_threads,
    )
    with contextlib.closing(stream):  # a bad file: the decoding ahead stops with the error
        for prediction in stream:
            if not prediction.ok:
                raise ImageLoadError(prediction.source, prediction.error)
            centers.append(prediction.center)
    result = np.asarray(centers, np.float64).reshape(len(centers), 2)
    return result[0] if single else result
