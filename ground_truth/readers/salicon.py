"""Reader for SALICON's COCO-style fixation JSON (Jiang et al., CVPR 2015).

``annotations/fixations_*.json``: ``images`` (``id``, ``file_name``,
``height``, ``width``) and ``annotations`` (``image_id``, ``worker_id``,
``fixations``: ordered ``[row, col]`` mouse samples, 1-based:
``x = col - 1``, ``y = row - 1``), one annotation per worker and image.
Images are looked up under ``images/*/<file_name>`` next to ``annotations/``;
the JSON's size is checked against the displayed image size.

A malformed annotation (``fixations`` not a list of ``[row, col]`` number pairs: three
columns, ragged, ``null``, strings) drops that observer (``observers_malformed``), one
without an ``image_id`` that annotation (``annotations_malformed``), an image entry without
``file_name``/``id``/``height``/``width`` that image (``images_malformed``): each an error
naming the JSON file and the entry; the rest is read.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np

from ground_truth.readers.common import ReadResult, finish, make_record
from ground_truth.records import RecordError

__all__ = ["read_salicon", "salicon_json_files"]

DATASET = "salicon"


def salicon_json_files(data_dir) -> list[Path]:
    """The fixation JSON files under ``data_dir`` (or ``data_dir/salicon_examples``)."""
    data_dir = Path(data_dir)
    for root in (data_dir / "salicon_examples", data_dir):
        files = sorted((root / "annotations").glob("fixations_*.json"))
        if files:
            return files
    return []


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise RecordError(path, "no such file")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RecordError(path, f"not valid JSON: {error}") from error
    for key in ("images", "annotations"):
        if not isinstance(data, dict) or key not in data:
            raise RecordError(path, f"no {key!r} list (not a COCO-style fixation file)")
    return data


def read_salicon(data_dir=None, json_paths=None) -> ReadResult:
    """Reads SALICON mouse samples (source ``"salicon_mouse"``).

    Args:
      data_dir: folder holding ``salicon_examples/`` or ``annotations/``.
      json_paths: explicit JSON files instead.
    Returns:
      :class:`ReadResult`, one record per image, one observer per annotation.
    """
    paths = [Path(p) for p in json_paths] if json_paths else salicon_json_files(data_dir)
    if not paths:
        raise RecordError(
            Path(data_dir or ".") / "salicon_examples",
            "no annotations/fixations_*.json (nor in its parent)",
        )
    result = ReadResult(records=[])
    for path in paths:
        data = _load_json(path)
        images_root = path.parent.parent / "images"
        by_image = collections.defaultdict(list)
        for k, a in enumerate(data["annotations"]):
            try:
                by_image[a["image_id"]].append((k, a))
            except (KeyError, TypeError):  # TypeError: not an object, or an unhashable id
                result.drop(
                    "annotations_malformed",
                    f"{path}: annotation {k}: no usable image_id ({str(a)[:80]}); dropped",
                )
        for n, image in enumerate(data["images"]):
            try:
                name, image_key = image["file_name"], image["id"]
                json_hw = (int(image["height"]), int(image["width"]))
            except (KeyError, TypeError, ValueError):
                result.drop(
                    "images_malformed",
                    f"{path}: image {n}: lacks file_name/id/height/width ({str(image)[:80]}); "
                    "dropped",
                )
                continue
            found = sorted(images_root.glob(f"*/{name}")) or sorted(images_root.glob(name))
            if not found:
                result.drop("images_missing", f"{images_root}/*/{name}: image file not found")
                continue
            hw = result.image_hw(found[0])
            if hw is None:
                continue
            if hw != json_hw:
                result.drop(
                    "images_size_mismatch", f"{found[0]}: JSON says {json_hw} (h, w), image is {hw}"
                )
                continue
            observers, ids = [], []
            for k, a in by_image.pop(image_key, []):
                try:
                    rc = _row_col(a.get("fixations"))
                except ValueError as error:
                    result.drop(
                        "observers_malformed",
                        f"{path}: annotation {k} (image_id {image_key}, worker "
                        f"{a.get('worker_id')}): {error}; observer dropped",
                    )
                    continue
                observers.append(np.stack([rc[:, 1] - 1.0, rc[:, 0] - 1.0], axis=1))
                ids.append(a.get("worker_id"))
            record = make_record(
                image_id=f"{DATASET}/{Path(name).stem}",
                dataset=DATASET,
                source="salicon_mouse",
                modality="mouse",
                image_path=found[0],
                original_hw=hw,
                observers=observers,
                observer_ids=ids,
            )
            finish(result, record)
        for key, leftover in by_image.items():
            result.drops["annotations_unknown_image"] += len(leftover)
            result.errors.append(f"{path}: {len(leftover)} annotations for unknown image_id {key}")
    return result


def _row_col(fixations) -> np.ndarray:
    """An annotation's ``fixations`` -> ``float64 [n, 2]`` ``[row, col]`` (1-based, as stored).

    Raises:
      ValueError: not a list of ``[row, col]`` pairs of numbers (the message says what it is).
    """
    if not isinstance(fixations, list):
        kind = "null or missing" if fixations is None else f"a {type(fixations).__name__}"
        raise ValueError(f"fixations is {kind}, expected a list of [row, col] pairs")
    for j, pair in enumerate(fixations):
        if not isinstance(pair, list) or len(pair) != 2:
            length = f" of {len(pair)} values" if isinstance(pair, list) else ""
            raise ValueError(
                f"fixations[{j}] is {type(pair).__name__}{length} ({str(pair)[:40]}), "
                "expected a [row, col] pair"
            )
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair):
            raise ValueError(
                f"fixations[{j}] = {str(pair)[:40]} holds a value that is not a number"
            )
    return np.asarray(fixations, np.float64).reshape(-1, 2)
