"""Backend-neutral training input: ``keras.utils.PyDataset`` over the portable ground truth.

The portable form (written by ``python -m ground_truth build``) is a folder with
``index.jsonl`` and the images already fitted into the 480x640 model frame, so
it needs neither TensorFlow nor the original data to read: this is the path used
under every Keras backend and on machines without TensorFlow. It is the one input pipeline
from ground-truth records to training batches: the trainer, the notebook and the tests use
it; :meth:`CenterDataset.as_tf_dataset` gives the same batches as a ``tf.data.Dataset`` for
TensorFlow code (prefetching, ``tf.distribute``).
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np

from attention_center.core.frames import frame_transform
from attention_center.core.images import ImageLoadError, decode_image
from attention_center.data.stored_frames import read_stored_frame
from attention_center.training.augment import augment, resize_frame
from attention_center.training.teacher import blended_target


def frame_problems(data_dir, records, frames=None) -> list[str]:
    """Every frame of ``records`` that cannot be decoded, one ``"<frame>: <problem>"`` line
    each (missing, empty, not an image, truncated or corrupt); ``[]`` when all decode.

    Decodes each frame completely, as training does (:meth:`CenterDataset._frame`): a broken
    build is found before training, never mid-epoch. About 2.5 ms a 480x640 frame (3.7 s for
    the 1,467 frames of a 1,536-record build on one core).

    Args:
      data_dir: the portable build (or, with ``frames``, what names the data).
      records: index rows (``frame_path``).
      frames: a TFDS dataset's :class:`~attention_center.data.stored_frames.FrameStore`;
        ``None``: the build's files.
    """
    problems = []
    for path in dict.fromkeys(str(record["frame_path"]) for record in records):
        if frames is not None:
            try:
                frames[path]
            except KeyError:
                problems.append(f"{data_dir}:{path}: no such frame in the dataset")
            except (OSError, ValueError) as error:
                problems.append(str(error))
            continue
        try:  # the project's image reader: its one wording for every kind of broken file
            decode_image(os.path.join(data_dir, path), max_pixels=None)
        except ImageLoadError as error:
            problems.append(str(error))
    return problems


class CenterDataset(keras.utils.PyDataset):
    """Batches of ``(frames, targets)`` for :class:`AttentionCenterModel` training.

    ``frames``: ``float32 [B, H, W, 3]`` RGB in [0, 1] (``H, W`` = ``frame_hw``).
    ``targets``: ``{"center": float32 [B, 2]`` (x, y) in frame pixels,
    ``"weight_map": float32 [B, H / s, W / s, 1]`` fixation density (sums to 1)
    when ``map_stride`` is given, else a ``[B, 1, 1, 1]`` zero placeholder``}``.

    Frames are decoded once and kept in memory (uint8 at 480x640: ~0.9 MB each).

    Args:
      data_dir: a portable ground-truth folder (or, with ``frames``, what names the data in errors).
      records: from :func:`select_records` (or :func:`attention_center.data.selection.select`).
      frame_hw: the training input size; must have the 4:3 aspect of the stored frames.
      batch_size: images per batch.
      training: shuffle and augment (crop/scale, flip, colour jitter).
      seed: seeds shuffling and augmentation (epoch ``e`` uses ``seed + e``).
      map_stride: stride of the weight map, to produce density targets.
      density_sigma: Gaussian sigma of the density target in frame pixels.
      frames: ``frame_path -> uint8 [480, 640, 3]`` (a prepared TFDS dataset's,
        :class:`attention_center.data.stored_frames.FrameStore`); ``None``: read
        ``data_dir / frame_path`` files.
      loss_weights: ``source -> (centre weight, density weight)``: each record's losses are
        weighted by its source's (``ground_truth.training_use.TRAINING_USE``: eye tracking 1, a
        click proxy less); the batches then carry Keras sample weights. ``None``: all 1.
      teacher: ``image_id -> TeacherTarget`` (:mod:`attention_center.training.teacher`):
        soft targets. The centre target becomes ``(1 - teacher_weight) * human +
        teacher_weight * teacher``, the density target the same mixture of the human
        density and the teacher's map (its cells as weighted points, moved by the same
        augmentation).
      teacher_weight: the teacher's share, in [0, 1].
      no_flip_datasets: datasets (the records' ``dataset``) never flipped left-right in
        training: kinds of image read in a direction (web pages, charts, designs: people
        start at the top left), where a mirrored image with mirrored targets teaches a
        symmetric prior that is wrong for every real one.
    """

    def __init__(
        self,
        data_dir,
        records,
        frame_hw=(240, 320),
        batch_size=16,
        training=False,
        seed=0,
        map_stride=None,
        density_sigma=12.0,
        min_scale=0.8,
        frames=None,
        loss_weights=None,
        teacher=None,
        teacher_weight=0.0,
        no_flip_datasets=(),
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not records:
            raise ValueError(f"{data_dir}: no records to train on")
        self.data_dir = os.fspath(data_dir)
        self.records = list(records)
        self.frame_hw = tuple(int(v) for v in frame_hw)
        self.batch_size = int(batch_size)
        self.training = training
        self.seed = int(seed)
        self.map_stride = map_stride
        self.density_sigma = float(density_sigma)
        self.min_scale = float(min_scale)
        self._frames: dict[str, np.ndarray] = {}
        self._stored = frames
        self.loss_weights = dict(loss_weights) if loss_weights else None
        self.teacher = teacher or {}
        self.teacher_weight = float(teacher_weight)
        if not 0.0 <= self.teacher_weight <= 1.0:
            raise ValueError(f"teacher_weight must be in [0, 1], got {teacher_weight}")
        self.no_flip_datasets = frozenset(no_flip_datasets or ())
        self._epoch = 0
        self._order = np.arange(len(self.records))
        self.on_epoch_end()

    def _frame(self, record) -> np.ndarray:
        path = record["frame_path"]
        if path not in self._frames:
            self._frames[path] = read_stored_frame(self.data_dir, path, self._stored)
        return self._frames[path]

    def __len__(self):
        return int(np.ceil(len(self.records) / self.batch_size))

    def on_epoch_end(self):
        if self.training:
            self._order = np.random.default_rng(self.seed + self._epoch).permutation(
                len(self.records)
            )
        self._epoch += 1

    def example(self, index: int, rng: np.random.Generator | None = None):
        """One ``(uint8 frame [H, W, 3], float32 points [1 + N, 2])``; row 0 = centre.

        With a teacher for the image, the rows after the human points are the teacher's
        centre and map cells (see :meth:`targets_of`); all are moved together.
        """
        record = self.records[index]
        frame = self._frame(record)
        rows = [record["center_frame"]] + list(record.get("points_frame") or [])
        target = self.teacher.get(record["image_id"]) if self.teacher_weight > 0 else None
        if target is not None:
            rows += [target.center] + list(target.points)
        points = np.asarray(rows, np.float32).reshape(-1, 2)
        if self.training and rng is not None:
            flip = record.get("dataset") not in self.no_flip_datasets
            return augment(rng, frame, points, self.frame_hw, min_scale=self.min_scale, flip=flip)
        return resize_frame(frame, points, self.frame_hw)

    def targets_of(self, index: int, points: np.ndarray):
        """The example's ``(centre [2], density points [N, 2], point weights [N])`` targets.

        ``points`` are :meth:`example`'s (moved) rows: the human centre, the human points,
        then (with a teacher) the teacher's centre and its map cells.
        """
        record = self.records[index]
        n_human = len(record.get("points_frame") or [])
        human_center, human_points = points[0], points[1 : 1 + n_human]
        if not n_human:
            human_points = points[:1]
        target = self.teacher.get(record["image_id"]) if self.teacher_weight > 0 else None
        if target is None:
            return human_center, human_points, None
        teacher_center = points[1 + n_human]
        moved = dataclasses.replace(target, points=points[2 + n_human :])
        lam = self.teacher_weight
        center = (1.0 - lam) * human_center + lam * teacher_center
        density_points, weights = blended_target(human_points, None, moved, lam)
        return center, density_points, weights

    def density_target(self, points: np.ndarray, weights=None) -> np.ndarray:
        """Fixations (frame pixels, optionally weighted) -> ``float32 [h, w, 1]`` density at
        the weight map's resolution."""
        from attention_center.core.density import density_map

        map_hw = (-(-self.frame_hw[0] // self.map_stride), -(-self.frame_hw[1] // self.map_stride))
        to_map = frame_transform(self.frame_hw, map_hw)
        return density_map(
            to_map.points_to_frame(points),
            map_hw,
            sigma_px=self.density_sigma * map_hw[1] / self.frame_hw[1],
            weights=weights,
        )[..., None]

    def __getitem__(self, batch_index):
        indices = self._order[batch_index * self.batch_size : (batch_index + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, self._epoch, int(batch_index)])
        frames, centers, maps = [], [], []
        for index in indices:
            frame, points = self.example(int(index), rng if self.training else None)
            center, density_points, weights = self.targets_of(int(index), points)
            frames.append(frame)
            centers.append(center)
            if self.map_stride:
                maps.append(self.density_target(density_points, weights))
        batch = np.stack(frames).astype(np.float32) / 255.0
        targets = {"center": np.stack(centers).astype(np.float32)}
        # Keras's compiled metrics index targets by every output name, so a target for
        # "weight_map" is always present: a [B, 1, 1, 1] placeholder when unused.
        targets["weight_map"] = (
            np.stack(maps).astype(np.float32)
            if self.map_stride
            else np.zeros((len(frames), 1, 1, 1), np.float32)
        )
        if self.loss_weights is None:
            return batch, targets
        pairs = [self.loss_weights.get(self.records[int(i)]["source"], (1.0, 1.0)) for i in indices]
        sample_weights = {
            "center": np.asarray([c for c, _ in pairs], np.float32),
            "weight_map": np.asarray([d for _, d in pairs], np.float32),
        }
        return batch, targets, sample_weights

    def as_tf_dataset(self, epochs: int = 1):
        """The same batches as a ``tf.data.Dataset`` (TensorFlow needed), prefetched.

        Yields ``(frames float32 [B, H, W, 3], {"center": float32 [B, 2], "weight_map":
        float32 [B, h, w, 1]})`` and, with ``loss_weights``, the sample weights dict third,
        exactly as :meth:`__getitem__`; ``epochs`` passes, reshuffled and re-augmented between
        them as in Keras's fit loop. The last batch may be smaller.
        """
        import tensorflow as tf

        frames, targets, *weights = self[0]

        def spec(array):
            return tf.TensorSpec((None, *np.shape(array)[1:]), tf.float32)

        signature = (spec(frames), {k: spec(v) for k, v in targets.items()})
        if weights:
            signature += ({k: spec(v) for k, v in weights[0].items()},)
        self._epoch = 0
        self.on_epoch_end()

        def batches():
            for epoch in range(epochs):
                if epoch:
                    self.on_epoch_end()
                for index in range(len(self)):
                    yield self[index]

        return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(2)
