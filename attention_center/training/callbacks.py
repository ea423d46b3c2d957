"""Training callbacks beyond Keras's own: centres drawn into TensorBoard, and a JSON history."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
from PIL import Image, ImageDraw


def draw_centers(
    frame: np.ndarray, centers: dict[str, tuple[float, float]], radius: int = 6
) -> np.ndarray:
    """Draws labelled centres on a frame.

    Args:
      frame: ``float32 [H, W, 3]`` in [0, 1] or ``uint8``.
      centers: colour name -> (x, y) frame pixels, e.g. ``{"lime": true, "red": predicted}``.
    Returns:
      ``uint8 [H, W, 3]``.
    """
    array = np.asarray(frame)
    if array.dtype != np.uint8:
        array = np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)
    image = Image.fromarray(array)
    draw = ImageDraw.Draw(image)
    for colour, (x, y) in centers.items():
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], outline=colour, width=2)
        draw.line([x - 2 * radius, y, x + 2 * radius, y], fill=colour)
        draw.line([x, y - 2 * radius, x, y + 2 * radius], fill=colour)
    return np.asarray(image)


class CenterImagesCallback(keras.callbacks.Callback):
    """Writes validation images with true (green) and predicted (red) centres to TensorBoard.

    Needs TensorFlow (``tf.summary``); the trainer adds it only when TF is importable.
    """

    def __init__(self, log_dir, frames, centers, max_images=6):
        super().__init__()
        import tensorflow as tf  # TF-only: TensorBoard's image summaries.

        self._tf = tf
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "images"))
        self.frames = np.asarray(frames[:max_images], np.float32)
        self.centers = np.asarray(centers[:max_images], np.float32)

    def on_epoch_end(self, epoch, logs=None):
        predicted = np.asarray(self.model.predict(self.frames, verbose=0)["center"])
        drawn = np.stack(
            [
                draw_centers(frame, {"lime": tuple(true), "red": tuple(pred)})
                for frame, true, pred in zip(self.frames, self.centers, predicted)
            ]
        )
        with self.writer.as_default():
            self._tf.summary.image(
                "centers (green: people, red: model)", drawn, step=epoch, max_outputs=len(drawn)
            )
        self.writer.flush()


class JsonHistory(keras.callbacks.Callback):
    """Appends each epoch's logs to a JSON-lines file (survives a kill; resumes append)."""

    def __init__(self, path, phase: str):
        super().__init__()
        self.path = os.fspath(path)
        self.phase = phase

    def on_epoch_end(self, epoch, logs=None):
        row = {"phase": self.phase, "epoch": int(epoch)}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
