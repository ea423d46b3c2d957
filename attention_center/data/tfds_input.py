"""Reading a prepared TFDS ground truth (``tfds:...``) as index rows and frames.

A dataset prepared by ``attention-center ground-truth tfds`` (``ground_truth.build.tfds_dataset``)
is read from its files with ``tfds.builder_from_directory(...).as_dataset(split=...)``, so
neither the builder's code nor the original data are needed. Each example becomes the
``index.jsonl`` row it was made from
(:func:`attention_center.core.ground_truth_tfds.example_to_row`) and its frame's JPEG bytes go to a
:class:`~attention_center.data.stored_frames.FrameStore`
(decoded with Pillow, as the portable build's frame files are: the same bytes, the same pixels).

Specs (``--data`` of ``attention-center train`` / ``evaluate``):

* ``tfds:DIR``: a directory: one prepared config version (it holds ``dataset_info.json``,
  e.g. ``OUT/attention_center_ground_truth/osie_eye/1.1.0``), a config folder (its latest
  version), the ``attention_center_ground_truth`` folder or a TFDS data directory holding it
  (the ``--out`` of ``ground-truth tfds``): every config there, latest version each;
* ``tfds:NAME/CONFIG[:VERSION]``: a config in the TFDS data directory (``$TFDS_DATA_DIR``,
  default ``~/tensorflow_datasets``), e.g. ``tfds:attention_center_ground_truth/osie_eye``.

TensorFlow Datasets is imported only when a split is read.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from attention_center.core.ground_truth_tfds import DATASET_NAME, example_to_row
from attention_center.data.stored_frames import FrameStore

__all__ = ["PREFIX", "is_tfds", "read_tfds", "version_dirs"]

#: ``--data`` values starting with this name a prepared TFDS dataset.
PREFIX = "tfds:"

_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def is_tfds(data) -> bool:
    """Whether ``data`` is a ``tfds:`` spec (else a portable build directory)."""
    return isinstance(data, str) and data.startswith(PREFIX)


def _latest(config_dir: Path) -> Optional[Path]:
    versions = [
        d
        for d in config_dir.iterdir()
        if d.is_dir() and _VERSION.match(d.name) and (d / "dataset_info.json").is_file()
    ]
    if not versions:
        return None
    return max(versions, key=lambda d: tuple(int(v) for v in d.name.split(".")))


def _config_dirs(dataset_dir: Path) -> list[Path]:
    found = [
        _latest(d)
        for d in sorted(dataset_dir.iterdir())
        if d.is_dir() and not d.name.startswith(".")
    ]
    return [d for d in found if d is not None]


def _check(directory: Path, spec: str) -> Path:
    info = directory / "dataset_info.json"
    try:
        name = json.loads(info.read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError) as error:
        raise ValueError(f"{spec}: {info}: cannot read: {error}") from error
    if name != DATASET_NAME:
        raise ValueError(f"{spec}: {directory} holds TFDS dataset {name!r}, not {DATASET_NAME!r}")
    return directory


def version_dirs(spec: str) -> list[Path]:
    """The prepared dataset versions a spec names, one per config (see the module docstring).

    Raises:
      FileNotFoundError: nothing prepared there (names the place looked at).
      ValueError: an empty spec, or a dataset that is not ``attention_center_ground_truth``.
    """
    location = spec[len(PREFIX) :] if is_tfds(spec) else spec
    if not location:
        raise ValueError(f"{spec!r}: give a directory or NAME/CONFIG after {PREFIX!r}")
    path = Path(location).expanduser()
    hint = " (prepare one with `attention-center ground-truth tfds --source S --out DIR`)"
    if path.is_dir():
        if (path / "dataset_info.json").is_file():
            return [_check(path, spec)]
        if (path / DATASET_NAME).is_dir():
            path = path / DATASET_NAME
        latest = _latest(path)
        found = [latest] if latest is not None else _config_dirs(path)
        if not found:
            raise FileNotFoundError(f"{spec}: no prepared {DATASET_NAME} config under {path}{hint}")
        return [_check(d, spec) for d in found]
    name, _, version = location.partition(":")
    parts = name.strip("/").split("/")
    if len(parts) != 2 or not all(parts):
        raise FileNotFoundError(f"{spec}: {location} is neither a directory nor NAME/CONFIG{hint}")
    root = Path(os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets").expanduser()
    config_dir = root / parts[0] / parts[1]
    directory = (
        (config_dir / version)
        if version
        else (_latest(config_dir) if config_dir.is_dir() else None)
    )
    if directory is None or not (directory / "dataset_info.json").is_file():
        raise FileNotFoundError(
            f"{spec}: not prepared in {config_dir}"
            f"{' (version ' + version + ')' if version else ''}{hint}"
        )
    return [_check(directory, spec)]


_REPREPARE = (
    "the prepared dataset is partial or corrupt: delete {directory} and prepare it again "
    "with `attention-center ground-truth tfds`"
)


def _split_files_problem(directory: Path, split_info) -> Optional[str]:
    """Why a split's shard files cannot be whole (missing, or shorter than the examples
    they hold), or ``None``."""
    files = [directory / name for name in split_info.filenames]
    missing = [f for f in files if not f.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more of its {len(files)} shards)" if missing[1:] else ""
        return f"{missing[0]}: missing{more}"
    size = sum(f.stat().st_size for f in files)
    if size < int(split_info.num_bytes):  # the examples alone are num_bytes long
        where = files[0] if len(files) == 1 else f"{split_info.name} shards {files[0]}..."
        return (
            f"{where}: truncated ({size} bytes; its examples alone are {int(split_info.num_bytes)})"
        )
    return None


def _op_message(error) -> str:
    """A TensorFlow error's first line, without its ``{{function_node ...}}`` prefix."""
    text = str(getattr(error, "message", "") or error).strip().splitlines()[0]
    text = re.sub(r"^\{\{[^}]*\}\}\s*", "", text)
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", text) or type(error).__name__


def _examples(builder, directory: Path, split: str, spec: str):
    """The split's examples as numpy (frames as JPEG bytes), or a :class:`ValueError` naming
    the prepared folder and the shard when its files are missing, truncated or corrupt
    (never TensorFlow's traceback)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    advice = _REPREPARE.format(directory=directory)
    problem = _split_files_problem(directory, builder.info.splits[split])
    if problem:
        raise ValueError(f"{spec}: {problem}; {advice}")
    try:
        dataset = builder.as_dataset(
            split=split, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()}
        )
        yield from tfds.as_numpy(dataset)
    except (tf.errors.OpError, OSError) as error:
        files = ", ".join(builder.info.splits[split].filenames)
        raise ValueError(
            f"{spec}: {directory}: {split} split ({files}) unreadable: {_op_message(error)}; "
            f"{advice}"
        ) from None


def read_tfds(
    spec: str, splits: Sequence[str], sources: Optional[Sequence[str]] = None
) -> tuple[list[dict], FrameStore]:
    """The rows and frames of some splits of a prepared dataset.

    Args:
      spec: a ``tfds:`` spec (or the same without the prefix).
      splits: split names; a config without one of them contributes nothing to it.
      sources: read only the configs that hold one of these sources (their
        ``metadata.json``); ``None``: every config. The rows are not filtered here
        (:func:`attention_center.core.ground_truth_index.choose_records` does that).
    Returns:
      ``(rows, frames)``: index rows (``frame_path`` keys ``frames``) in the datasets'
      order, and the :class:`FrameStore` of their frames.
    Raises:
      FileNotFoundError, ValueError: see :func:`version_dirs`; two configs hold the same
        record (e.g. ``osie_eye`` and ``osie_eye_first2`` in one folder: name one of them);
        a split's shard file is missing, truncated or corrupt (a partial or damaged
        preparation: the message names the file and says to prepare it again).
    """
    import tensorflow_datasets as tfds

    store = FrameStore(spec)
    rows: list[dict] = []
    wanted = set(sources) if sources else None
    seen: dict[tuple, Path] = {}
    for directory in version_dirs(spec):
        builder = tfds.builder_from_directory(os.fspath(directory))
        held = set((builder.info.metadata or {}).get("sources") or ())
        if wanted is not None and held and not held & wanted:
            continue
        for split in splits:
            if split not in builder.info.splits:
                continue
            for example in _examples(builder, directory, split, spec):
                row = example_to_row(example, split)
                key = (row["image_id"], row["source"])
                if seen.setdefault(key, directory) != directory:
                    raise ValueError(
                        f"{spec}: {key[1]} record {key[0]} is in both {seen[key]} "
                        f"and {directory}: give one of them as tfds:DIR"
                    )
                store.add(row["frame_path"], example["image"])
                rows.append(row)
    return rows, store
