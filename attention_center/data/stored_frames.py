"""Frames held in memory (a prepared TFDS dataset's), and fitting one into another frame size.

A stored frame is the original image already fitted into the 480x640 model frame (the
portable build's ``frames/*.jpg``, the TFDS form's ``image``). Training crops and resizes
frames itself (:mod:`attention_center.training.augment`); evaluation, which otherwise fits
the original image into each model's frame, uses :func:`refit_frame` when only the stored
frame is there.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping

import numpy as np
from PIL import Image

from attention_center.core.frames import FrameTransform, frame_transform
from attention_center.core.images import ImageLoadError, to_float

__all__ = ["FrameStore", "read_stored_frame", "refit_frame"]


class FrameStore(Mapping):
    """``frame_path -> uint8 [H, W, 3]`` RGB, decoded on access from the JPEG bytes it holds.

    Args:
      where: names the store in errors (e.g. the ``tfds:`` spec).
    """

    def __init__(self, where: str = "frames"):
        self.where = where
        self._jpeg: dict[str, bytes] = {}

    def add(self, frame_path: str, jpeg: bytes) -> None:
        """Keeps a frame's bytes (the first copy of a frame wins: every copy is the same)."""
        self._jpeg.setdefault(frame_path, bytes(jpeg))

    def jpeg(self, frame_path: str) -> bytes:
        """The frame's JPEG bytes, as stored."""
        return self._jpeg[frame_path]

    def __getitem__(self, frame_path: str) -> np.ndarray:
        data = self._jpeg[frame_path]
        try:
            with Image.open(io.BytesIO(data)) as image:
                return np.asarray(image.convert("RGB"))
        except OSError as error:
            raise ImageLoadError(
                f"{self.where}:{frame_path}", f"cannot decode the stored frame: {error}"
            ) from error

    def __iter__(self) -> Iterator[str]:
        return iter(self._jpeg)

    def __len__(self) -> int:
        return len(self._jpeg)


def read_stored_frame(data_dir, frame_path: str, store=None) -> np.ndarray:
    """A ground truth's stored frame, ``uint8 [H, W, 3]`` RGB.

    From ``store`` (a prepared TFDS dataset's :class:`FrameStore`) when given, else the
    portable build's file ``data_dir / frame_path``. What training and distillation read.

    Raises:
      ValueError: the frame is missing or cannot be decoded; the message names it
        (``DATA:FRAME`` for a store, the file's path otherwise).
    """
    if store is not None:
        where = f"{data_dir}:{frame_path}"
        try:
            return np.asarray(store[frame_path])
        except KeyError:
            raise ValueError(f"{where}: no such frame in the dataset") from None
        except (OSError, ValueError) as error:
            raise ValueError(f"{where}: cannot read the frame: {error}") from error
    path = os.path.join(data_dir, frame_path)
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read the frame: {error}") from error


def refit_frame(stored: np.ndarray, original_hw, frame_hw) -> tuple[np.ndarray, FrameTransform]:
    """A stored frame fitted into another frame size, with the original image's geometry.

    The result has the geometry of the original image fitted into ``frame_hw`` directly
    (:func:`attention_center.core.frames.frame_transform` of ``original_hw``), so centres
    map back to original pixels exactly as they would from the original; only the pixels
    differ: they are resampled (bicubic, antialiased) from the stored frame's image region
    instead of the original. For ``frame_hw`` equal to the stored frame's size the stored
    frame is returned as is.

    Args:
      stored: ``uint8 [H0, W0, 3]`` the original image fitted into ``(H0, W0)`` by
        resize-with-pad (``attention_center.core.images.resize_with_pad``).
      original_hw: ``(h, w)`` of the original image.
      frame_hw: ``(H, W)`` wanted.
    Returns:
      ``(frame, transform)``: ``float32 [H, W, 3]`` RGB in [0, 1], and the
      :class:`~attention_center.core.frames.FrameTransform` from original pixels to it.
    """
    stored = np.asarray(stored)
    stored_hw = tuple(int(v) for v in stored.shape[:2])
    transform = frame_transform(original_hw, frame_hw)
    if stored_hw == tuple(int(v) for v in frame_hw):
        return to_float(stored), transform
    source = frame_transform(original_hw, stored_hw)
    top, left = int(source.pad_y), int(source.pad_x)
    content = stored[top : top + int(source.resized_hw[0]), left : left + int(source.resized_hw[1])]
    rh, rw = int(transform.resized_hw[0]), int(transform.resized_hw[1])
    resized = np.asarray(Image.fromarray(content).resize((rw, rh), Image.Resampling.BICUBIC))
    frame = np.zeros((int(frame_hw[0]), int(frame_hw[1]), 3), np.float32)
    top, left = int(transform.pad_y), int(transform.pad_x)
    frame[top : top + rh, left : left + rw] = to_float(resized)
    return frame, transform
