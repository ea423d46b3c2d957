"""The Beam build refuses what ``build`` refuses about frames, with the same errors.

Two image ids whose frame file is the same (``custom/a_x`` and ``custom/a/x`` both give
``frames/custom_a_x.jpg``) were grouped apart by Beam, and the second silently wrote its
picture over the first's frame; a frame file that is another row's input image was
overwritten. Real photos (OSIE stimuli from the fixtures and ``../shared/data``), a
hand-written generic CSV, Beam's FnApiRunner.
"""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("apache_beam")

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from conftest import FIXTURES  # noqa: E402

from ground_truth.build import build  # noqa: E402
from ground_truth.build.beam import BuildGroundTruth  # noqa: E402


def write_csv(path, images):
    lines = ["image,observer,x,y,source,order"]
    for image in images:
        for observer in "ABC":
            lines += [f"{image},{observer},{300 + 5 * i},{250 + 4 * i},mouse,{i}" for i in range(4)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_both(source, data_dir, tmp_path):
    """``(build's report, build's folder, beam's stats, beam's folder)``."""
    reference = tmp_path / "build"
    report = build([str(source)], data_dir, reference, progress=False)
    out = tmp_path / "beam"
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
        _ = pipeline | BuildGroundTruth([str(source)], data_dir, out)
    stats = json.loads((out / "stats.json").read_text())
    return report, reference, stats, out


def ids(folder):
    return [json.loads(line)["image_id"] for line in (folder / "index.jsonl").read_text().split()]


def test_two_ids_with_one_frame_file_are_an_error_in_beam_as_in_build(tmp_path, shared_data_dir):
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    (data / "b").mkdir()
    stimuli = shared_data_dir / "osie" / "data" / "stimuli"
    shutil.copy(stimuli / "1001.jpg", data / "a_x.jpg")  # three different pictures
    shutil.copy(stimuli / "1002.jpg", data / "a" / "x.jpg")
    shutil.copy(stimuli / "1003.jpg", data / "b" / "x.jpg")
    source = write_csv(data / "points.csv", ["a_x.jpg", "a/x.jpg", "b/x.jpg"])
    report, reference, stats, out = run_both(source, data, tmp_path)
    expected = "custom/a_x: its frame frames/custom_a_x.jpg would also be custom/a/x's; not built"
    assert report.errors == [expected]
    assert stats["errors"] == [expected]  # beam: exit 1 with this error, as build
    assert ids(out) == ids(reference) == ["custom/a/x", "custom/b/x"]
    assert (out / "index.jsonl").read_bytes() == (reference / "index.jsonl").read_bytes()
    names = sorted(p.name for p in (out / "frames").iterdir())
    assert names == sorted(p.name for p in (reference / "frames").iterdir())
    for name in names:  # custom_a_x.jpg is a/x.jpg's frame in both, never a_x.jpg's
        assert (out / "frames" / name).read_bytes() == (reference / "frames" / name).read_bytes()


def test_a_frame_file_that_is_an_input_image_is_not_overwritten_by_beam(tmp_path):
    data = tmp_path / "data"
    (data / "frames").mkdir(parents=True)
    stimulus = FIXTURES / "ground_truth" / "osie" / "data" / "stimuli" / "1001.jpg"
    shutil.copy(stimulus, data / "y.jpg")
    shutil.copy(stimulus, data / "frames" / "custom_y.jpg")  # custom/y's frame file name
    source = write_csv(tmp_path / "points.csv", [data / "y.jpg", data / "frames" / "custom_y.jpg"])
    out = data  # the build writes into the data folder, whose frames/ holds an input image
    original = (data / "frames" / "custom_y.jpg").read_bytes()
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
        _ = pipeline | BuildGroundTruth([str(source)], data, out)
    stats = json.loads((out / "stats.json").read_text())
    frame = out / "frames" / "custom_y.jpg"
    assert stats["errors"] == [
        f"custom/y: its frame {frame} is an input image; not written (build into another --out)"
    ]
    assert frame.read_bytes() == original
    assert ids(out) == ["custom/custom_y"]
