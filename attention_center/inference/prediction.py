"""Attention centres of images, in their original pixels: the Python API.

::

    import attention_center as ac
    ac.predict("photo.jpg")                       # float64 [2]: (x, y), bundled model
    ac.predict(["a.jpg", "b.png"], model="google_center.tflite")   # float64 [2, 2]

(:func:`predict` is exported as ``attention_center.predict``; this module is
``attention_center.inference.prediction`` so that the name ``attention_center.predict``
is the function, never a module.)

Every model sees the same input: :func:`attention_center.image.load_image`
(EXIF orientation applied) then :func:`~attention_center.image.resize_with_pad`
into the model's frame; the centre goes back with
:meth:`~attention_center.image.FrameTransform.to_original` (clamped to the
image). Centres are therefore (x, y), 0-based pixel centres of the image *as
displayed* (upright).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Iterator, Optional

import numpy as np
from PIL import Image

from attention_center.core.frames import FrameTransform
from attention_center.core.images import ImageLoadError, load_image, resize_with_pad
from attention_center.inference.predictors import Predictor, load_predictor

__all__ = ["Prediction", "predict", "predict_images", "image_sources"]


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
    """

    source: str
    center: Optional[np.ndarray] = None
    frame_center: Optional[np.ndarray] = None
    original_hw: Optional[tuple[int, int]] = None
    transform: Optional[FrameTransform] = None
    weight_map: Optional[np.ndarray] = None
    image: Optional[np.ndarray] = None
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _as_rgb_array(item, label: str) -> np.ndarray:
    """An in-memory image (numpy or PIL) -> ``uint8 [h, w, 3]``."""
    if isinstance(item, Image.Image):
        item = np.asarray(item.convert("RGB"))
    array = np.asarray(item)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4) or min(array.shape[:2]) < 1:
        raise ImageLoadError(label, f"an image array must be [h, w, 3], got {list(array.shape)}")
    array = array[..., :3]
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise ImageLoadError(label, f"integer images must be uint8, got {array.dtype}")
        array = np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return array


def image_sources(images_or_paths) -> tuple[list, bool]:
    """Normalizes :func:`predict`'s argument to a list; says whether it was a single item."""
    if isinstance(images_or_paths, (str, os.PathLike, Image.Image)):
        return [images_or_paths], True
    if isinstance(images_or_paths, np.ndarray):
        if images_or_paths.ndim == 4:
            return list(images_or_paths), False
        return [images_or_paths], True
    return list(images_or_paths), False


def _load(item, index: int) -> tuple[str, np.ndarray]:
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item), load_image(item)
    label = f"<array {index}>"
    return label, _as_rgb_array(item, label)


def predict_images(items: Iterable, predictor: Predictor, batch_size: int = 8,
                   keep_images: bool = False, keep_weight_maps: bool = False
                   ) -> Iterator[Prediction]:
    """Predicts the centre of each image, in batches, one :class:`Prediction` per item, in order.

    Each image is decoded once; a file that cannot be read yields a
    :class:`Prediction` with ``error`` set and the others go on.

    Args:
      items: paths, or ``uint8 [h, w, 3]`` / float ``[h, w, 3]`` in [0, 1]
        arrays, or PIL images.
      predictor: from :func:`attention_center.inference.predictors.load_predictor`.
      batch_size: images decoded and run together (bounds memory).
      keep_images: keep the decoded image in ``Prediction.image``.
      keep_weight_maps: keep the weighting map (``[h', w']``) when the model has one.
    """
    batch_size = max(1, int(batch_size))
    pending: list[tuple[Prediction, np.ndarray]] = []

    def flush():
        if not pending:
            return []
        frames = np.stack([frame for _, frame in pending])
        out = predictor.predict_frames(frames)
        results = []
        for i, (prediction, _) in enumerate(pending):
            frame_center = np.asarray(out["center"][i], np.float64)
            prediction.frame_center = frame_center
            prediction.center = prediction.transform.points_to_original(frame_center, clamp=True)
            if keep_weight_maps and out.get("weight_map") is not None:
                prediction.weight_map = np.asarray(out["weight_map"][i], np.float32)[..., 0]
            results.append(prediction)
        pending.clear()
        return results

    ordered: list[Prediction] = []  # errors wait here so the output stays in input order
    for index, item in enumerate(items):
        label = os.fspath(item) if isinstance(item, (str, os.PathLike)) else f"<array {index}>"
        try:
            label, image = _load(item, index)
        except ImageLoadError as error:
            prediction = Prediction(source=label, error=error.reason)
            if pending:
                ordered.append(prediction)
            else:
                yield prediction
            continue
        frame, transform = resize_with_pad(image, predictor.frame_hw)
        prediction = Prediction(source=label, original_hw=tuple(image.shape[:2]),
                                transform=transform, image=image if keep_images else None)
        ordered.append(prediction)
        pending.append((prediction, frame))
        if len(pending) >= batch_size:
            flush()
            yield from ordered
            ordered.clear()
    flush()
    yield from ordered


def predict(images_or_paths, model=None, batch_size: int = 8,
            num_threads: Optional[int] = None) -> np.ndarray:
    """Attention centres of images, in original pixels.

    Args:
      images_or_paths: a path, an image (``uint8 [h, w, 3]``, float in [0, 1],
        or PIL), a batch ``[B, h, w, 3]``, or a sequence of any of these.
      model: ``None`` for the bundled default model
        (``attention_center/assets/default_model/model.keras``, else
        ``model.tflite`` there), a ``.keras`` or ``.tflite`` path (Google's
        ``center.tflite`` works), a ``keras.Model``, or a
        :class:`~attention_center.inference.predictors.Predictor`.
      batch_size: images run through the model together.
      num_threads: TFLite interpreter threads (default: the number of CPUs).
    Returns:
      ``float64 [2]`` (x, y) for a single image, else ``float64 [N, 2]``;
      0-based pixel centres of each image as displayed (EXIF applied).
    Raises:
      ImageLoadError: an image cannot be read (naming the file); use
        :func:`predict_images` to get every image's result or error instead.
      ModelLoadError: the model cannot be loaded, or ``model=None`` and no
        default model is bundled (the message names the folder).
    """
    items, single = image_sources(images_or_paths)
    predictor = load_predictor(model, num_threads=num_threads, batch_size=batch_size)
    centers = []
    for prediction in predict_images(items, predictor, batch_size=batch_size):
        if not prediction.ok:
            raise ImageLoadError(prediction.source, prediction.error)
        centers.append(prediction.center)
    result = np.asarray(centers, np.float64).reshape(len(centers), 2)
    return result[0] if single else result

