"""The builder CLI, the portable form and the split (imports without Keras/TensorFlow:
tests/architecture)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import FIXTURES, REPO
from PIL import Image

from attention_center.core.frames import frame_transform
from attention_center.core.ground_truth_index import read_index, resolve_image_path
from attention_center.core.splits import split_of
from ground_truth.build import build

GT_FIXTURES = FIXTURES / "ground_truth"
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "ground_truth", *args],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("gt")
    proc = run_cli(
        "build",
        "--source",
        "osie_mouse_lab,osie_mouse_amt,osie_eye_1001.csv",
        "--data_dir",
        str(GT_FIXTURES),
        "--out",
        str(out),
        "--tfrecords",
        "--records_per_shard",
        "2",
        "--noprogress",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, proc


def test_build_writes_the_portable_form(built):
    out, proc = built
    rows = read_index(out)
    assert [r["source"] for r in rows] == ["osie_mouse_lab", "osie_mouse_amt", "osiecsv_eye"]
    lab, amt, csv = rows
    assert lab["image_id"] == amt["image_id"] == "osie/1001"
    assert lab["frame_path"] == amt["frame_path"] == "frames/osie_1001.jpg"
    assert lab["split"] == amt["split"] == split_of("osie/1001", 0)
    assert resolve_image_path(lab) == (GT_FIXTURES / "osie/data/stimuli/1001.jpg").resolve()
    for row in rows:
        assert row["original_hw"] == [600, 800] and row["frame_hw"] == [480, 640]
        with Image.open(row["frame_abspath"]) as frame:
            assert frame.size == (640, 480) and frame.format == "JPEG"
        t = frame_transform(row["original_hw"], row["frame_hw"])
        np.testing.assert_allclose(row["center_frame"], t.to_frame(*row["center"]), atol=2e-3)
        points = np.array(row["points"])
        assert len(points) == row["num_points_kept"] == len(row["observer_of_point"])
        np.testing.assert_allclose(points.mean(0), row["center"], atol=0.01)
        np.testing.assert_allclose(row["points_frame"], t.points_to_frame(points), atol=0.01)
        assert row["num_points_kept"] <= row["num_points_in"] and row["fallback"] is None
    # 13 lab observers x at most 30 samples after the start.
    assert lab["num_observers"] == 13 and lab["num_points_kept"] <= 13 * 30
    # Centre of the CSV record: subjects 1-3 of OSIE image 1001, the same numbers as the
    # hand-worked cases in ground_truth_readers_test.py.
    assert not list(out.glob("**/.*.tmp"))


def test_build_stats_are_consistent(built):
    out, proc = built
    stats = json.loads((out / "stats.json").read_text())
    rows = read_index(out)
    assert stats["total_records"] == 3 and stats["total_images"] == 2
    for row in rows:
        s = stats["sources"][row["source"]]
        assert s["images"] == 1 and s["observers"] == row["num_observers"]
        assert s["points_in"] == row["num_points_in"]
        assert s["points_in"] >= s["kept_temporal"] >= s["kept_spatial"] == row["num_points_kept"]
    assert "| osie_mouse_amt | 1 |" in (out / "stats.md").read_text()
    assert "osie_mouse_lab" in proc.stdout
    assert sorted(p.name for p in (out / "tfrecords").iterdir())[0].endswith(".tfrecord")


def test_build_reports_a_bad_source_and_builds_the_rest(tmp_path):
    report = build(["osie_mouse_lab", "osie_eye"], GT_FIXTURES, tmp_path, progress=False)
    assert not report.ok
    (error,) = report.errors
    assert error.startswith("osie_eye") and "fixations.mat: no such file" in error
    assert [r["source"] for r in read_index(tmp_path)] == ["osie_mouse_lab"]
    assert "fixations.mat: no such file" in (tmp_path / "stats.md").read_text()


def test_split_is_by_image_stable_and_proportional():
    ids = [f"set/{i}" for i in range(20000)]
    splits = [split_of(i, 0) for i in ids]
    fractions = {s: splits.count(s) / len(ids) for s in ("train", "val", "test")}
    assert abs(fractions["train"] - 0.80) < 0.01 and abs(fractions["val"] - 0.08) < 0.01
    assert abs(fractions["test"] - 0.12) < 0.01
    assert splits == [split_of(i, 0) for i in ids]  # reproducible
    assert [split_of(i, 1) for i in ids[:200]] != splits[:200]  # the seed matters


def test_split_does_not_depend_on_sources_or_order(tmp_path, built):
    out, _ = built
    other = tmp_path / "other"
    assert build(["osie_mouse_amt"], GT_FIXTURES, other, seed=0, progress=False).ok
    (row,) = read_index(other)
    assert row["split"] == read_index(out, sources=["osie_mouse_lab"])[0]["split"]


def test_build_keeps_one_chart_shown_at_two_sizes_as_one_image(tmp_path, shared_data_dir):
    # MASSVIS's free-viewing clicks were made on enlarged copies (targets_massvis30/) of 30 of
    # the charts of the other experiments (targets_massvis/): one image id, two files. The
    # build must neither refuse them (it refuses two unrelated files under one id) nor merge
    # them silently: the copy's rows name their original, and its frame is the original's.
    sources = ["massvis_click_fv_40x32", "massvis_click_exp1_40x32"]
    report = build(sources, shared_data_dir, tmp_path, progress=False)
    assert report.ok, report.errors
    rows = read_index(tmp_path)
    both = {r["image_id"] for r in rows if r["source"] == sources[0]} & {
        r["image_id"] for r in rows if r["source"] == sources[1]
    }
    assert len(both) == 9
    image_id = "massvis/economist_daily_chart_124"
    fv, exp1 = (
        next(r for r in rows if r["image_id"] == image_id and r["source"] == s) for s in sources
    )
    assert fv["image_path"] == "bubbleview/targets_massvis30/economist_daily_chart_124.png"
    assert fv["same_picture_as"] == exp1["image_path"] != fv["image_path"]
    assert exp1["same_picture_as"] is None
    assert fv["frame_path"] == exp1["frame_path"]
    # Each row keeps its own pixels: the enlarged copy's centre, scaled to the original, lands
    # where the same clicks' would, within the two sizes' rounding.
    assert tuple(fv["original_hw"]) == (588, 595) and tuple(exp1["original_hw"]) == (494, 500)
    frame = np.asarray(Image.open(tmp_path / exp1["frame_path"]))
    original = frame_transform(exp1["original_hw"], frame.shape[:2])
    copy = frame_transform(fv["original_hw"], frame.shape[:2])
    corner = np.array([[fv["original_hw"][1] - 0.5, fv["original_hw"][0] - 0.5]])
    np.testing.assert_allclose(
        copy.points_to_frame(corner),
        original.points_to_frame(np.array([[499.5, 493.5]])),
        atol=0.5,
    )
