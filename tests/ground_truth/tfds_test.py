"""The TFDS builder (``ground_truth.build.tfds_dataset``) on real OSIE fixations, offline.

A small config (seven OSIE images, real fixations, in the generic JSONL format:
``tests/small_ground_truth.py``) is prepared with ``download_and_prepare`` and read back
with ``tfds.builder_from_directory``: its features and shapes, its splits (= ``split_of``),
and that it holds exactly the portable build of the same records (rows and frame bytes).
The command ``ground-truth tfds`` prepares a registered source's config (``osie_eye``, one
image per split) from ``../shared/data`` and reports bad sources.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from small_ground_truth import SOURCE, SPLIT_COUNTS, small_ground_truth

pytest.importorskip("tensorflow_datasets")

import tensorflow_datasets as tfds  # noqa: E402

from attention_center.core.ground_truth_index import read_index  # noqa: E402
from attention_center.core.ground_truth_tfds import (  # noqa: E402
    DATASET_NAME,
    SUPERVISED_KEYS,
    example_to_row,
    frame_density,
    row_to_example,
)
from attention_center.core.splits import split_of  # noqa: E402
from attention_center.data.selection import select  # noqa: E402
from ground_truth.build import tfds_card  # noqa: E402
from ground_truth.build.tfds_dataset import AttentionCenterGroundTruth, config_for  # noqa: E402
from ground_truth.readers import SOURCES  # noqa: E402


@pytest.fixture(scope="module")
def small(tmp_path_factory, shared_data_dir):
    return small_ground_truth(tmp_path_factory, shared_data_dir)


def test_one_config_per_source_with_its_card():
    configs = AttentionCenterGroundTruth.BUILDER_CONFIGS
    assert AttentionCenterGroundTruth.name == DATASET_NAME
    assert [c.name for c in configs] == list(SOURCES) == [c.source for c in configs]
    for source in SOURCES:
        assert tfds_card.source_notes(source) and tfds_card.licence_for(source)
    assert "MIT" in tfds_card.licence_for("osie_eye") and "MIT" in tfds_card.licence_for(
        "scene_eye"
    )
    assert "xu2014predicting" in tfds_card.citation_for("osie_eye")
    bubbleview = [s for s in SOURCES if tfds_card.dataset_of(s) in ("fiwi", "massvis", "gdi")]
    for source in bubbleview:  # BubbleView: cite Kim et al., never redistribute
        assert "kim2017bubbleview" in tfds_card.citation_for(source)
        assert "never redistribute" in tfds_card.licence_for(source)
    card = tfds_card.card_markdown(list(SOURCES))
    assert all(f"### {source}" in card for source in SOURCES) and "../shared/data" in card
    limited = config_for("osie", max_images_per_split=2)
    assert (limited.name, limited.source, limited.max_images_per_split) == (
        "osie_eye_first2",
        "osie_eye",
        2,
    )
    with pytest.raises(ValueError, match="unknown source"):
        config_for("no_such_source")


def test_features_shapes_and_splits(small):
    builder = tfds.builder_from_directory(os.fspath(small.version_dir))
    info = builder.info
    assert info.name == DATASET_NAME and info.config_name == "osie_small"
    assert {split: info.splits[split].num_examples for split in info.splits} == SPLIT_COUNTS
    assert info.metadata["sources"] == [SOURCE]
    assert "xu2014predicting" not in info.citation  # a generic file: the data owner's
    features = info.features
    assert features["image"].shape == (480, 640, 3)
    assert features["density"].shape == (120, 160)
    for split in SPLIT_COUNTS:
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            image_id = example["image_id"].decode()
            assert split_of(image_id) == split, image_id
            assert example["source"].decode() == SOURCE and example["modality"].decode() == "eye"
            assert example["image"].shape == (480, 640, 3) and example["image"].dtype == np.uint8
            assert tuple(example["original_hw"]) == (600, 800)
            n = len(example["points"])
            assert example["points"].shape == example["points_frame"].shape == (n, 2) and n > 10
            assert example["observer_of_point"].shape == (n,)
            assert example["center"].dtype == np.float64
            np.testing.assert_allclose(example["points"].mean(0), example["center"], atol=0.01)
            density = example["density"]
            assert density.dtype == np.float32 and abs(float(density.sum()) - 1.0) < 1e-4
            np.testing.assert_array_equal(
                density, frame_density(example["points_frame"], example["original_hw"])
            )
            assert not example["fallback"] and example["fallback_reason"] == b""


def test_the_tfds_form_holds_the_portable_build(small):
    """Same rows (every field and value), same frame bytes, same splits as index.jsonl."""
    splits = tuple(SPLIT_COUNTS)
    from_tfds = select(small.spec, splits)
    built = sorted(read_index(small.build_dir), key=lambda r: (r["image_id"], r["source"]))
    assert len(from_tfds.records) == len(built) == sum(SPLIT_COUNTS.values())
    for row, expected in zip(from_tfds.records, built):
        frame_file = expected.pop("frame_abspath")
        assert row == expected
        with open(frame_file, "rb") as handle:
            assert from_tfds.frames.jpeg(row["frame_path"]) == handle.read()
    one = select(small.spec, "val", sources=[SOURCE], max_images=1)
    assert [r["image_id"] for r in one.records] == [
        built_row["image_id"] for built_row in built if built_row["split"] == "val"
    ][:1]


def _command(capsys, *args) -> tuple[int, str, str]:
    """``attention-center ground-truth ARGS`` in this process: (exit code, stdout, stderr)."""
    from attention_center.cli import ground_truth as cli

    with pytest.raises(SystemExit) as exit_:
        cli.run(["ground-truth", *map(str, args)])
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def test_the_command_prepares_a_registered_source_offline(tmp_path, shared_data_dir, capsys):
    out = tmp_path / "tfds"
    args = ["--max_images_per_split", "1", "--data_dir", shared_data_dir, "--out", out]
    code, _, stderr = _command(capsys, "tfds", "--source", "osie,no_such_source", *args)
    # An unknown source is a usage error before any work, as in build (it was exit 1, after
    # preparing the others).
    assert code == 2 and "--source: unknown ['no_such_source']" in stderr, stderr[-3000:]
    assert not out.exists()
    code, stdout, stderr = _command(capsys, "tfds", "--source", "osie", *args, "--noprogress")
    assert code == 0, stderr[-3000:]
    version_dir = out / DATASET_NAME / "osie_eye_first1" / "1.1.0"
    assert str(version_dir) in stdout and f"--data tfds:{out}" in stdout
    assert "# attention_center_ground_truth" in (version_dir / "README.md").read_text()
    assert "MIT" in (version_dir / "LICENSE").read_text()
    assert not (out / "downloads").exists()  # nothing was downloaded
    info = json.loads((version_dir / "dataset_info.json").read_text())
    assert {s["name"]: s["shardLengths"] for s in info["splits"]} == {
        "train": ["1"],
        "val": ["1"],
        "test": ["1"],
    }
    rows = select(f"tfds:{out}", ("train", "val", "test")).records
    assert [split_of(r["image_id"]) for r in rows] == [r["split"] for r in rows]
    assert {r["source"] for r in rows} == {"osie_eye"}
    assert all(r["data_dir"] == str(shared_data_dir.resolve()) for r in rows)


def test_the_command_refuses_a_missing_out_or_data_dir(tmp_path, capsys):
    code, _, stderr = _command(capsys, "tfds", "--source", "osie_eye")
    assert code == 2 and "--out is required" in stderr
    code, _, stderr = _command(
        capsys,
        "tfds",
        "--source",
        "osie_eye",
        "--out",
        tmp_path,
        "--data_dir",
        tmp_path / "missing",
    )
    assert code == 2 and "no such folder" in stderr


def test_tfds_load_as_supervised_gives_the_frame_and_its_centre(small):
    """``tfds.load(..., as_supervised=True)``: (frame, centre in frame pixels) pairs."""
    name = f"{DATASET_NAME}/osie_small"
    supervised = tfds.load(name, data_dir=small.tfds_dir, split="val", as_supervised=True)
    full = tfds.load(name, data_dir=small.tfds_dir, split="val")
    assert tfds.builder_from_directory(os.fspath(small.version_dir)).info.supervised_keys == (
        SUPERVISED_KEYS
    )
    pairs = list(tfds.as_numpy(supervised))
    examples = list(tfds.as_numpy(full))
    assert len(pairs) == len(examples) == SPLIT_COUNTS["val"]
    for (image, center), example in zip(pairs, examples):
        assert image.shape == (480, 640, 3) and image.dtype == np.uint8
        np.testing.assert_array_equal(image, example["image"])
        assert center.shape == (2,) and center.dtype == np.float64
        np.testing.assert_array_equal(center, example["center_frame"])
        np.testing.assert_allclose(center, example["points_frame"].mean(0), atol=0.01)


def test_a_1_0_0_example_without_same_picture_as_reads_as_its_row(small):
    # Form 1.0.0 had no same_picture_as: its examples still give the build's row, with None.
    row = sorted(read_index(small.build_dir), key=lambda r: (r["image_id"], r["source"]))[0]
    row.pop("frame_abspath")
    example = row_to_example(row, b"", np.zeros((120, 160), np.float32))
    encoded = {k: v.encode() if isinstance(v, str) else v for k, v in example.items()}
    assert example_to_row(encoded, row["split"]) == row
    del encoded["same_picture_as"]
    assert row["same_picture_as"] is None
    assert example_to_row(encoded, row["split"]) == row


def _points_csv(path, image="y.jpg"):
    """A generic CSV of two observers' mouse points on ``image`` (next to it)."""
    import shutil

    from conftest import FIXTURES

    path.parent.mkdir(parents=True, exist_ok=True)
    if image == "y.jpg":
        shutil.copy(
            FIXTURES / "ground_truth" / "osie" / "data" / "stimuli" / "1001.jpg",
            path.parent / image,
        )
    rows = [f"{image},{o},{380 + 3 * i},{290 + 2 * i},mouse,{i}" for o in "AB" for i in range(6)]
    path.write_text("\n".join(["image,observer,x,y,source,order", *rows]) + "\n")
    return path


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("names", [("a/points.csv", "b/points.csv"), ("a-b.csv", "a_b.csv")])
def test_two_sources_that_would_be_one_config_are_refused_naming_both(names, tmp_path, capsys):
    """Both became config ``points`` (``a_b``): the second was silently "reused" (exit 0) and
    its records were in no dataset. Now a usage error naming both, before any work."""
    first, second = (_points_csv(tmp_path / name) for name in names)
    out = tmp_path / "tfds"
    code, _, stderr = _command(
        capsys, "tfds", "--source", f"{first},{second}", "--data_dir", tmp_path, "--out", out
    )
    assert code == 2, stderr[-3000:]
    assert str(first) in stderr and str(second) in stderr and "rename" in stderr
    assert not out.exists()


def test_a_config_prepared_from_another_file_is_refused(small, tmp_path, capsys):
    """``--out`` holds config ``osie_small`` made from one file: another file of that name is
    refused (exit 2, both named, nothing touched); the same file reuses it (exit 0)."""
    import shutil

    out = tmp_path / "tfds"
    shutil.copytree(small.tfds_dir, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    other = tmp_path / "other" / small.records_file.name
    other.parent.mkdir()
    shutil.copy(small.records_file, other)
    data_dir = small.records_file.parent
    code, _, stderr = _command(
        capsys, "tfds", "--source", other, "--data_dir", data_dir, "--out", out, "--noprogress"
    )
    assert code == 2, stderr[-3000:]
    assert "prepared from " + str(small.records_file) in stderr and str(other) in stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    code, stdout, stderr = _command(
        capsys,
        "tfds",
        "--source",
        small.records_file,
        "--data_dir",
        data_dir,
        "--out",
        out,
        "--noprogress",
    )
    assert code == 0 and str(out / DATASET_NAME / "osie_small" / "1.1.0") in stdout, stderr


def test_an_out_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    source = _points_csv(tmp_path / "points.csv")
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, stdout, stderr = _command(
        capsys, "tfds", "--source", source, "--data_dir", tmp_path, "--out", afile
    )
    assert code == 2 and f"--out {afile}: exists and is not a folder" in stderr, stderr
    assert "preparing" not in stdout and afile.read_text() == "x"


def test_a_failed_prepare_leaves_no_empty_folders(small, tmp_path, capsys):
    """A source naming a missing image fails (exit 1, named); what that run made is removed:
    no new ``--out`` (nor its new parent), and in an ``--out`` that held a prepared config,
    no ``downloads/`` or empty config folder beside it."""
    import shutil

    source = _points_csv(tmp_path / "pts.csv", image="missing.png")
    new_out = tmp_path / "new" / "tfds"
    args = ["--source", source, "--data_dir", tmp_path, "--noprogress"]
    code, _, stderr = _command(capsys, "tfds", *args, "--out", new_out)
    assert code == 1 and "missing.png" in stderr and "ERROR: " in stderr, stderr[-3000:]
    assert not (tmp_path / "new").exists()
    out = tmp_path / "tfds"
    shutil.copytree(small.tfds_dir, out)
    before = _tree(out)
    code, _, stderr = _command(capsys, "tfds", *args, "--out", out)
    assert code == 1, stderr[-3000:]
    assert _tree(out) == before
