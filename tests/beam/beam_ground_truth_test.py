"""The Beam ground-truth builder against ``ground_truth.build.build``, on real crowd mouse data.

The sources are SALICON's examples (10 COCO images, 610 workers' mouse paths, 73,630
samples) and the first 30 images of OSIE's crowd (AMT) and lab mouse studies (one ``.mat``
per image, read as separate units of work), from ``../shared/data``, linked into one data
folder that both builders read.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("apache_beam")

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from ground_truth.build import build  # noqa: E402
from ground_truth.build.beam import BuildGroundTruth, read_units  # noqa: E402

SOURCES = ["salicon_mouse", "osie_mouse_amt", "osie_mouse_lab"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, shared_data_dir):
    root = tmp_path_factory.mktemp("gt_data")
    (root / "salicon_examples").symlink_to((shared_data_dir / "salicon_examples").resolve())
    osie = shared_data_dir / "osie" / "data"
    (root / "osie" / "data").mkdir(parents=True)
    (root / "osie" / "data" / "stimuli").symlink_to((osie / "stimuli").resolve())
    for study in ("mouse_amt", "mouse_lab"):
        folder = root / "osie" / "data" / study
        folder.mkdir()
        for path in sorted((osie / study).glob("*.mat"))[:30]:
            (folder / path.name).symlink_to(path.resolve())
    return root


@pytest.fixture(scope="module")
def both(data_dir, tmp_path_factory):
    reference = tmp_path_factory.mktemp("gt_build")
    report = build(SOURCES, data_dir, reference, progress=False)
    out = tmp_path_factory.mktemp("gt_beam")
    options = PipelineOptions(["--runner=FnApiRunner"])
    with beam.Pipeline(options=options) as pipeline:
        _ = pipeline | BuildGroundTruth(SOURCES, data_dir, out, batch=16)
    return report, reference, out


def rows(folder):
    return [json.loads(line) for line in (folder / "index.jsonl").read_text().splitlines()]


def test_units_are_one_per_file(data_dir):
    units, errors = read_units(SOURCES + ["nope"], data_dir)
    assert [u.source for u in units].count("osie_mouse_amt") == 30
    assert [u.source for u in units].count("salicon_mouse") == 1
    assert errors and "nope" in errors[0]


def test_index_rows_equal_the_builders(both):
    report, reference, out = both
    assert report.ok
    expected, got = rows(reference), rows(out)
    assert len(expected) == 10 + 30 + 30
    assert got == expected  # same rows, same order, same numbers


def test_frames_are_the_builders(both):
    _, reference, out = both
    names = sorted(p.name for p in (reference / "frames").iterdir())
    assert names == sorted(p.name for p in (out / "frames").iterdir())
    for name in names:
        assert (out / "frames" / name).read_bytes() == (reference / "frames" / name).read_bytes()


def test_stats_count_what_was_built(both):
    report, _, out = both
    stats = json.loads((out / "stats.json").read_text())
    assert stats["total_records"] == report.stats["total_records"]
    assert stats["total_images"] == report.stats["total_images"]
    assert stats["errors"] == []
    for source, counts in stats["sources"].items():
        for key in ("images", "observers", "points_in", "kept_spatial", "fallbacks"):
            assert counts[key] == report.stats["sources"][source][key], (source, key)


def test_a_chart_shown_at_two_sizes_builds_as_the_builder_does(shared_data_dir, tmp_path):
    # MASSVIS's free-viewing clicks name enlarged copies (targets_massvis30/) of charts the
    # description experiments show at their own size, under the same image id: both builders
    # keep the id, with one frame made from the original, and neither reports an error.
    sources = ["massvis_click_fv_40x32", "massvis_click_exp2_40x32"]
    reference = tmp_path / "builder"
    report = build(sources, shared_data_dir, reference, progress=False)
    assert report.ok, report.errors
    out = tmp_path / "beam"
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
        _ = pipeline | BuildGroundTruth(sources, shared_data_dir, out, batch=16)
    expected, got = rows(reference), rows(out)
    assert got == expected
    copies = [r for r in got if r["same_picture_as"]]
    assert copies and all("targets_massvis30/" in r["image_path"] for r in copies)
    shared = {r["image_id"] for r in copies} & {
        r["image_id"] for r in got if r["source"] == sources[1]
    }
    assert len(shared) == 8
    for image_id in shared:
        name = next(r["frame_path"] for r in got if r["image_id"] == image_id)
        assert (out / name).read_bytes() == (reference / name).read_bytes()
    assert json.loads((out / "stats.json").read_text())["errors"] == []
