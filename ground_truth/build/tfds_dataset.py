"""A TensorFlow Datasets builder for the built ground truth: one config per source.

``AttentionCenterGroundTruth`` (TFDS name ``attention_center_ground_truth``) makes, for
every record of a source, the row of the portable build
(:func:`ground_truth.build.records_to_rows`: the readers, the filters, the split), its frame
(:func:`ground_truth.build.make_frame` and
:func:`attention_center.core.ground_truth_index.encode_frame`: the same JPEG bytes as
``frames/*.jpg``) and its density map
(:func:`attention_center.core.ground_truth_tfds.frame_density`), and stores them as one
example (features: :mod:`attention_center.core.ground_truth_tfds`). It builds offline:
nothing is downloaded, the manual directory is the data folder (``../shared/data``).

Configs: one per name in :data:`ground_truth.readers.SOURCES` (made when this module is
imported, so a new reader has its config), plus any :class:`GroundTruthConfig` made by hand
(a generic ``.csv``/``.jsonl`` source, or ``max_images_per_split`` for small ones)::

  attention-center ground-truth tfds --source osie_eye --data_dir ../shared/data --out DIR

  builder = AttentionCenterGroundTruth(config="osie_eye", data_dir=DIR)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir="../shared/data"))
  test = builder.as_dataset(split="test")

TensorFlow and TFDS are imported when this module is (nothing else in ``ground_truth``
imports it at module level); the library reads prepared datasets without it
(``attention_center.data.tfds_input``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow_datasets as tfds

from attention_center.core.ground_truth_index import encode_frame
from attention_center.core.ground_truth_tfds import (
    DENSITY_STRIDE,
    FEATURE_DOCS,
    FRAME_HW,
    SUPERVISED_KEYS,
    density_hw,
    frame_density,
    row_to_example,
)
from attention_center.core.ground_truth_tfds import (
    VERSION as FORM_VERSION,
)
from attention_center.core.images import ImageLoadError
from ground_truth.build import make_frame, records_to_rows, tfds_card
from ground_truth.readers import ALIASES, SOURCES, is_generic, read_source, source_file

__all__ = [
    "AttentionCenterGroundTruth",
    "GroundTruthConfig",
    "config_for",
    "plan_configs",
    "prepare",
]

SPLITS = ("train", "val", "test")


@dataclasses.dataclass(eq=False)
class GroundTruthConfig(tfds.core.BuilderConfig):
    """One source of the ground truth as a TFDS config.

    Attributes:
      source: a :data:`ground_truth.readers.SOURCES` name, or a generic ``.csv``/``.jsonl``
        file (absolute, or relative to the manual directory).
      max_images_per_split: keep the first this many image ids (sorted) of each split; 0: all
        (small configs for tests and smoke runs; name them apart from the full ones).
      seed: the split seed (0: the project's split, as every build).
    """

    source: str = ""
    max_images_per_split: int = 0
    seed: int = 0


def _config_name(source: str, max_images_per_split: int = 0) -> str:
    """A TFDS-safe config name: the source, or a generic file's stem; ``_first{N}`` when limited."""
    name = Path(source).stem if is_generic(source) else ALIASES.get(source, source)
    name = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "custom"
    return f"{name}_first{max_images_per_split}" if max_images_per_split else name


def config_for(source: str, max_images_per_split: int = 0, seed: int = 0) -> GroundTruthConfig:
    """The config of a source: the registered one, or a new one (generic file, limited, seeded)."""
    source = ALIASES.get(source, source)
    if source in SOURCES and not max_images_per_split and not seed:
        return next(c for c in AttentionCenterGroundTruth.BUILDER_CONFIGS if c.name == source)
    if source not in SOURCES and not is_generic(source):
        raise ValueError(
            f"unknown source {source!r}; known: {sorted(SOURCES)} (or a .csv/.jsonl file)"
        )
    name = _config_name(source, max_images_per_split) + (f"_seed{seed}" if seed else "")
    return GroundTruthConfig(
        name=name,
        source=source,
        max_images_per_split=int(max_images_per_split),
        seed=int(seed),
        description=tfds_card.source_notes(source),
    )


def _first_per_split(rows: list[dict], limit: int) -> list[dict]:
    if not limit:
        return rows
    keep = set()
    for split in SPLITS:
        keep |= set(sorted({r["image_id"] for r in rows if r["split"] == split})[:limit])
    return [r for r in rows if r["image_id"] in keep]


class AttentionCenterGroundTruth(tfds.core.GeneratorBasedBuilder):
    """Attention centres from people's eye, mouse and click data; one config per source.

    TFDS names it from the class: ``attention_center_ground_truth``
    (:data:`attention_center.core.ground_truth_tfds.DATASET_NAME`, which the readers use).
    """

    VERSION = tfds.core.Version(FORM_VERSION)
    RELEASE_NOTES = {
        "1.0.0": (
            "Frames, centres, kept points, observers and density maps "
            "of the portable build; splits by split_of(image_id, 0)."
        ),
        FORM_VERSION: (
            "same_picture_as: the original of a rescaled copy (MASSVIS's enlarged charts)."
        ),
    }
    BUILDER_CONFIGS = [
        GroundTruthConfig(name=name, source=name, description=tfds_card.source_notes(name))
        for name in SOURCES
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = tfds_card.MANUAL_DOWNLOAD_INSTRUCTIONS

    def _info(self) -> tfds.core.DatasetInfo:
        source = self.builder_config.source
        text = tfds.features.Text
        tensor = tfds.features.Tensor
        docs = FEATURE_DOCS
        features = tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(
                    shape=(*FRAME_HW, 3), encoding_format="jpeg", doc=docs["image"]
                ),
                **{
                    name: text(doc=docs[name])
                    for name in (
                        "image_id",
                        "dataset",
                        "source",
                        "modality",
                        "image_path",
                        "same_picture_as",
                        "data_dir",
                        "fallback_reason",
                    )
                },
                "original_hw": tensor(shape=(2,), dtype=np.int32, doc=docs["original_hw"]),
                "frame_hw": tensor(shape=(2,), dtype=np.int32, doc=docs["frame_hw"]),
                # float64 as bytes: a plain float feature is a float32 FloatList in a
                # tf.train.Example.
                "center": tensor(
                    shape=(2,), dtype=np.float64, encoding="bytes", doc=docs["center"]
                ),
                "center_frame": tensor(
                    shape=(2,), dtype=np.float64, encoding="bytes", doc=docs["center_frame"]
                ),
                "points": tensor(
                    shape=(None, 2), dtype=np.float64, encoding="zlib", doc=docs["points"]
                ),
                "points_frame": tensor(
                    shape=(None, 2), dtype=np.float64, encoding="zlib", doc=docs["points_frame"]
                ),
                "observer_of_point": tensor(
                    shape=(None,), dtype=np.int32, encoding="zlib", doc=docs["observer_of_point"]
                ),
                "num_observers": tensor(shape=(), dtype=np.int32, doc=docs["num_observers"]),
                "num_points_in": tensor(shape=(), dtype=np.int32, doc=docs["num_points_in"]),
                "fallback": tensor(shape=(), dtype=np.bool_, doc=docs["fallback"]),
                "density": tensor(
                    shape=density_hw(FRAME_HW, DENSITY_STRIDE),
                    dtype=np.float32,
                    encoding="zlib",
                    doc=docs["density"],
                ),
            }
        )
        description = (
            tfds_card.DESCRIPTION
            + "\n## This config: "
            + self.builder_config.name
            + "\n\n"
            + tfds_card.source_notes(source)
            + "\n"
        )
        return tfds.core.DatasetInfo(
            builder=self,
            description=description,
            features=features,
            supervised_keys=SUPERVISED_KEYS,
            citation=tfds_card.citation_for(source),
            license=tfds_card.licence_for(source),
            metadata=tfds.core.MetadataDict(
                sources=[source] if source in SOURCES else [],
                config_source=source,
                seed=self.builder_config.seed,
                frame_hw=list(FRAME_HW),
                density_stride=DENSITY_STRIDE,
                max_images_per_split=self.builder_config.max_images_per_split,
            ),
        )

    def _split_generators(self, dl_manager):
        data_dir = Path(os.fspath(dl_manager.manual_dir)).resolve()
        config = self.builder_config
        read = read_source(config.source, data_dir)
        if read.errors:
            raise ValueError(
                f"{config.source} in {data_dir}: {len(read.errors)} read error(s), "
                "nothing prepared: " + "; ".join(map(str, read.errors[:5]))
            )
        if not read.records:
            raise ValueError(f"{config.source} in {data_dir}: no records")
        rows = records_to_rows(read.records, data_dir, FRAME_HW, config.seed)
        rows = _first_per_split(rows, config.max_images_per_split)
        self.info.metadata["sources"] = sorted({r["source"] for r in rows})
        # An empty split cannot be written (TFDS refuses it): a split no image falls in is left out.
        return {
            split: self._generate_examples([r for r in rows if r["split"] == split])
            for split in SPLITS
            if any(r["split"] == split for r in rows)
        }

    def _generate_examples(self, rows):
        frames: dict = {}  # one frame per image: the sources of a generic file share it
        for row in rows:
            if row["image_id"] not in frames:
                try:
                    frames[row["image_id"]] = encode_frame(make_frame(row, FRAME_HW))
                except (ImageLoadError, OSError) as error:
                    raise ValueError(f"{row['image_id']}: frame not made: {error}") from error
            row = {k: v for k, v in row.items() if not k.startswith("_")}
            density = frame_density(
                row["points_frame"], row["original_hw"], FRAME_HW, DENSITY_STRIDE
            )
            yield (
                f"{row['source']}/{row['image_id']}",
                row_to_example(row, frames[row["image_id"]], density),
            )


def _made_from(source: str, data_dir) -> str:
    """What a config is made from: a registered source's name, or a generic file's
    resolved path (:func:`ground_truth.readers.source_file`)."""
    if is_generic(source):
        return str(source_file(source, data_dir).resolve())
    return ALIASES.get(source, source)


def _prepared_from(version_dir: Path, data_dir) -> Optional[tuple]:
    """``(source, max_images_per_split, seed)`` of a config already prepared in
    ``version_dir`` (its ``metadata.json``), or ``None`` when none is there."""
    try:
        metadata = json.loads((version_dir / "metadata.json").read_text(encoding="utf-8"))
        source = metadata["config_source"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (version_dir / "dataset_info.json").is_file():
        return None
    return (
        _made_from(str(source), data_dir),
        int(metadata.get("max_images_per_split") or 0),
        int(metadata.get("seed") or 0),
    )


def plan_configs(
    sources: Sequence[str],
    data_dir,
    out=None,
    max_images_per_split: int = 0,
    seed: int = 0,
) -> list[GroundTruthConfig]:
    """The configs that :func:`prepare` makes for ``sources``, checked before any work.

    One config per distinct source (a source given twice, by two names or paths, once); a
    generic file's config gets the file's resolved path as its ``source`` (so its
    ``metadata.json`` says which file it was made from).

    Raises:
      ValueError: an unknown source; two sources that would be the same config (a config
        is named after a generic file's stem: ``a/points.csv`` and ``b/points.csv``,
        ``a-b.csv`` and ``a_b.csv``, or ``osie_eye.csv`` and ``osie_eye``); a config already
        prepared under ``out`` from another source (TFDS would reuse it as it is).
    """
    configs: dict[str, GroundTruthConfig] = {}
    given: dict[str, str] = {}
    for source in sources:
        made_from = _made_from(source, data_dir)
        config = config_for(made_from, max_images_per_split, seed)
        other = configs.get(config.name)
        if other is not None:
            if other.source == config.source:
                continue  # the same source twice
            raise ValueError(
                f"{given[config.name]} and {source} would both be TFDS config "
                f"{config.name!r} (a config is named after the file): rename one of them, "
                "or prepare them into different output folders"
            )
        configs[config.name] = config
        given[config.name] = source
    if out is not None:
        for name, config in configs.items():
            version_dir = Path(out) / AttentionCenterGroundTruth.name / name / FORM_VERSION
            prepared = _prepared_from(version_dir, data_dir)
            wanted = (config.source, config.max_images_per_split, config.seed)
            if prepared is not None and prepared != wanted:
                raise ValueError(
                    f"{version_dir}: config {name!r} there was prepared from {prepared[0]}, "
                    f"not from {given[name]}: rename the file, give another output folder, "
                    "or delete that folder to prepare it again"
                )
    return list(configs.values())


def _managed(out: Path) -> tuple[Path, Path]:
    """What a preparation writes under ``out``: TFDS's ``downloads/`` and the dataset folder
    (nothing else of ``out`` is looked at: it may be any folder)."""
    return out / "downloads", out / AttentionCenterGroundTruth.name


def _tree(out: Path) -> set[str]:
    """Every path under :func:`_managed` (those folders included) that exists now."""
    found = set()
    for folder in _managed(out):
        for parent, dirs, files in os.walk(folder):
            found.add(parent)
            found.update(os.path.join(parent, name) for name in (*dirs, *files))
    return found


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_what_is_left_empty(out: Path, before: set[str], created: list[Path]) -> None:
    """Removes what this run made in :func:`_managed` and left empty
    (``downloads/extracted``, a config folder whose preparation failed, the dataset folder
    with only TFDS's ``.config/metadata.json`` in it), then ``out`` and its ancestors if this
    run made them and they are empty. Nothing that was there before is touched."""

    def remove_empty_new_folders():
        for folder in _managed(out):
            for parent, _, _ in os.walk(folder, topdown=False):
                if parent not in before:
                    with contextlib.suppress(OSError):  # not empty: kept
                        os.rmdir(parent)

    remove_empty_new_folders()
    dataset_dir = _managed(out)[1]
    default = dataset_dir / ".config" / "metadata.json"
    if (
        str(default) not in before
        and default.is_file()
        and not [e for e in dataset_dir.iterdir() if e.name != ".config"]
    ):
        default.unlink()  # TFDS's default-config note, for a dataset nothing was prepared in
        remove_empty_new_folders()
    for folder in created:
        with contextlib.suppress(OSError):
            folder.rmdir()


def prepare(
    sources: Sequence[str],
    data_dir,
    out,
    max_images_per_split: int = 0,
    seed: int = 0,
    file_format: Optional[str] = None,
    progress: bool = True,
) -> list[Path]:
    """Prepares one config per source under ``out`` (a TFDS data directory), offline.

    Args:
      sources: source names (or aliases, or generic ``.csv``/``.jsonl`` files).
      data_dir: the manual directory (``../shared/data``).
      out: the TFDS data directory; a config lands in ``out/attention_center_ground_truth/
        <config>/<version>/`` (already prepared ones, from the same source, are kept as
        they are).
      max_images_per_split, seed: see :class:`GroundTruthConfig`.
      file_format: TFDS file format (``None``: TFDS's default, TFRecord).
      progress: show TFDS's progress bars.
    Returns:
      the prepared version directories, one per distinct source (see :func:`plan_configs`).
    Raises:
      ValueError: see :func:`plan_configs`; a read error, an image that cannot be made a
        frame. What a failed preparation made and left empty (folders, TFDS's notes) is
        removed; configs prepared before it are kept.
    """
    data_dir = Path(data_dir).resolve()
    out = Path(out)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: no such data folder (the manual directory)")
    configs = plan_configs(sources, data_dir, out, max_images_per_split, seed)
    (tfds.enable_progress_bar if progress else tfds.disable_progress_bar)()
    downloads = _managed(out)[0]  # nothing is downloaded: no empty downloads/ is left
    created, before = _missing_folders(out), _tree(out)
    prepared = []
    try:
        for config in configs:
            options = {"file_format": file_format} if file_format else {}
            builder = AttentionCenterGroundTruth(config=config, data_dir=os.fspath(out), **options)
            builder.download_and_prepare(
                download_dir=os.fspath(downloads),
                download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(data_dir)),
            )
            prepared.append(Path(os.fspath(builder.data_dir)))
    finally:
        _remove_what_is_left_empty(out, before, created)
    return prepared
