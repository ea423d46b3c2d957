"""The TFDS form of the ground truth: its name, its features, and rows <-> examples (no TensorFlow).

This is the contract between the TFDS builder (``ground_truth.build.tfds_dataset``, which writes
the form with ``download_and_prepare``) and the library (``attention_center.data``, which
reads a prepared dataset for training and evaluation), as
:mod:`attention_center.core.ground_truth_index` is for the portable build. Neither side
imports the other; both use this module, so an example holds exactly an ``index.jsonl``
row plus its frame and density map.

One example per (image, source) record; one TFDS config per source (``SOURCES`` of
``ground_truth.readers``); the splits are the project's
(:func:`attention_center.core.splits.split_of`).
Features (``FEATURE_DOCS``), all coordinates ``(x, y)``, 0-based pixel centres, sizes ``(h, w)``:

* ``image``: the frame, ``uint8 [480, 640, 3]`` JPEG: the original image fitted into the
  model frame by resize-with-pad, the bytes of the portable build's ``frames/*.jpg``;
* ``center`` / ``center_frame``: ``float64 [2]`` original / frame pixels;
* ``points`` / ``points_frame``: ``float64 [n, 2]`` the points both filters kept;
  ``observer_of_point``: ``int32 [n]`` the observer of each;
* ``density``: ``float32 [120, 160]`` (stride :data:`DENSITY_STRIDE` over the frame),
  sums to 1 (all zeros without points), see :func:`frame_density`;
* ``image_id``, ``dataset``, ``source``, ``modality``, ``image_path`` (relative to
  ``data_dir``), ``same_picture_as`` (the original ``image_path`` is a rescaled copy of, ``""``
  for none; since 1.1.0), ``data_dir`` (the manual directory it was prepared from): text;
* ``original_hw``, ``frame_hw``: ``int32 [2]``; ``num_observers``, ``num_points_in``: ``int32``;
* ``fallback``: ``bool`` (the centre is not from people); ``fallback_reason``: text, ``""``
  when ``fallback`` is false.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from attention_center.core.density import density_map, sigma_for
from attention_center.core.frames import MODEL_FRAME_HW, frame_transform
from attention_center.core.ground_truth_index import frame_name

__all__ = [
    "DATASET_NAME",
    "DENSITY_STRIDE",
    "FEATURE_DOCS",
    "FRAME_HW",
    "SUPERVISED_KEYS",
    "VERSION",
    "density_hw",
    "example_to_row",
    "frame_density",
    "row_to_example",
]

#: The TFDS name of the builder (``tfds.builder(f"{DATASET_NAME}/osie_eye")``).
DATASET_NAME = "attention_center_ground_truth"
#: Version of the form; a change of features or of how they are made is a new version.
VERSION = "1.1.0"
#: ``(H, W)`` of the stored frames: the model frame.
FRAME_HW = MODEL_FRAME_HW
#: ``(input, target)`` of ``tfds.load(..., as_supervised=True)``: the frame (``uint8 [480, 640,
#: 3]``) and the attention centre in the frame's pixels (``float64 [2]``, (x, y)), the pair a
#: model that takes the frame is trained on (``center`` is in the original image's pixels).
SUPERVISED_KEYS = ("image", "center_frame")
#: Stride of the density map over the frame: the models' weight-map stride (120x160 at 480x640).
DENSITY_STRIDE = 4

#: What each feature holds (the dataset card's feature table; ``FeaturesDict`` docs).
FEATURE_DOCS = {
    "image": "the frame: the original image fitted into 480x640 by resize-with-pad (bicubic, "
    "antialiased, zero padding), JPEG quality 92, byte for byte the portable "
    "build's frames/<dataset>_<stem>.jpg",
    "image_id": "'<dataset>/<stem>', the same for an image in every source",
    "dataset": "the image set (osie, scene, salicon, fiwi, massvis, gdi, ...)",
    "source": "the record's source (a ground_truth.readers.SOURCES name)",
    "modality": "eye, mouse or click",
    "image_path": "the original image, relative to data_dir",
    "same_picture_as": "the original image that image_path is a rescaled copy of (the same "
    "picture at another size), relative to data_dir; empty for none",
    "data_dir": "the manual directory the dataset was prepared from (absolute)",
    "original_hw": "(h, w) of the original image as displayed (EXIF applied)",
    "frame_hw": "(H, W) of the frame: (480, 640)",
    "center": "(x, y) the attention centre, original pixels (0-based pixel centres)",
    "center_frame": "(x, y) the attention centre, frame pixels",
    "points": "[n, 2] (x, y) the points both filters kept, original pixels",
    "points_frame": "[n, 2] (x, y) the same points, frame pixels",
    "observer_of_point": "[n] the observer (index within the record) of each kept point",
    "num_observers": "observers of the record",
    "num_points_in": "points read, before the filters",
    "fallback": "true when the centre is a fallback, not from people's points",
    "fallback_reason": "why (empty when fallback is false)",
    "density": "[120, 160] fixation density of the kept points over the frame (stride 4), "
    "Gaussian sigma 3% of the image content's longer side (about one degree), "
    "sums to 1; all zeros without points",
}


def density_hw(frame_hw=FRAME_HW, stride: int = DENSITY_STRIDE) -> tuple[int, int]:
    """``(h, w)`` of the density map over a frame: ``ceil(H / stride), ceil(W / stride)``."""
    return -(-int(frame_hw[0]) // stride), -(-int(frame_hw[1]) // stride)


def frame_density(
    points_frame, original_hw, frame_hw=FRAME_HW, stride: int = DENSITY_STRIDE
) -> np.ndarray:
    """The density map of kept points over the frame.

    The points are moved from the frame to the map as the whole frame is shrunk by
    ``stride`` (:func:`attention_center.core.frames.frame_transform`, as the training targets
    are), then blurred with sigma = :func:`attention_center.core.density.sigma_for` of the
    image content's size in the map (3 % of its longer side: about one degree).

    Args:
      points_frame: ``[n, 2]`` (x, y) frame pixels.
      original_hw: ``(h, w)`` of the original image (gives the content's size in the frame).
      frame_hw: ``(H, W)`` of the frame.
      stride: map stride.
    Returns:
      ``float32 [ceil(H / stride), ceil(W / stride)]``, sums to 1 (all zeros without points).
    """
    map_hw = density_hw(frame_hw, stride)
    to_map = frame_transform(frame_hw, map_hw)
    content_hw = frame_transform(original_hw, map_hw).resized_hw
    points = np.asarray(points_frame, np.float64).reshape(-1, 2)
    return density_map(
        to_map.points_to_frame(points), map_hw, sigma_px=sigma_for([float(v) for v in content_hw])
    )


def row_to_example(row: Mapping, frame_jpeg: bytes, density: np.ndarray) -> dict:
    """An index row (``ground_truth.build.records_to_rows``) -> a TFDS example dict.

    Args:
      row: the row's fields (:mod:`attention_center.core.ground_truth_index`).
      frame_jpeg: the frame's JPEG bytes
        (:func:`attention_center.core.ground_truth_index.encode_frame`).
      density: ``float32 [h, w]`` from :func:`frame_density`.
    """
    points = np.asarray(row["points"], np.float64).reshape(-1, 2)
    points_frame = np.asarray(row["points_frame"], np.float64).reshape(-1, 2)
    return {
        "image": frame_jpeg,
        "image_id": row["image_id"],
        "dataset": row["dataset"],
        "source": row["source"],
        "modality": row["modality"],
        "image_path": row["image_path"],
        "same_picture_as": row.get("same_picture_as") or "",
        "data_dir": row["data_dir"],
        "original_hw": np.asarray(row["original_hw"], np.int32),
        "frame_hw": np.asarray(row["frame_hw"], np.int32),
        "center": np.asarray(row["center"], np.float64),
        "center_frame": np.asarray(row["center_frame"], np.float64),
        "points": points,
        "points_frame": points_frame,
        "observer_of_point": np.asarray(row["observer_of_point"], np.int32).reshape(-1),
        "num_observers": np.int32(row["num_observers"]),
        "num_points_in": np.int32(row["num_points_in"]),
        "fallback": bool(row["fallback"]),
        "fallback_reason": row["fallback"] or "",
        "density": np.asarray(density, np.float32),
    }


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def example_to_row(example: Mapping, split: str) -> dict:
    """A decoded TFDS example (numpy, text as bytes) -> the index row it was made from.

    The row has the fields and values of the portable build's ``index.jsonl`` row (lists
    of Python numbers, ``fallback`` ``None`` or the reason); ``frame_path`` names the
    frame as a build would (``frames/<dataset>_<stem>.jpg``) and is the key of the frame
    in the reader's frame store (the example's ``image`` is not in the row).

    Args:
      example: one element of ``tfds.as_numpy(builder.as_dataset(split=...))``.
      split: the TFDS split it came from.
    """
    image_id = _text(example["image_id"])
    points = np.asarray(example["points"], np.float64).reshape(-1, 2)
    reason = _text(example["fallback_reason"])
    return {
        "image_id": image_id,
        "dataset": _text(example["dataset"]),
        "source": _text(example["source"]),
        "modality": _text(example["modality"]),
        "split": split,
        "data_dir": _text(example["data_dir"]),
        "image_path": _text(example["image_path"]),
        "same_picture_as": _text(example.get("same_picture_as", b"")) or None,  # 1.0.0: none
        "original_hw": [int(v) for v in example["original_hw"]],
        "frame_hw": [int(v) for v in example["frame_hw"]],
        "frame_path": frame_name(image_id),
        "center": [float(v) for v in example["center"]],
        "center_frame": [float(v) for v in example["center_frame"]],
        "points": points.tolist(),
        "points_frame": np.asarray(example["points_frame"], np.float64).reshape(-1, 2).tolist(),
        "observer_of_point": [int(v) for v in np.asarray(example["observer_of_point"]).reshape(-1)],
        "num_observers": int(example["num_observers"]),
        "num_points_in": int(example["num_points_in"]),
        "num_points_kept": len(points),
        "fallback": (reason or "fallback") if bool(example["fallback"]) else None,
    }
