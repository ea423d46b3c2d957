"""``attention-center ground-truth build | beam | measure``: usage errors exit 2 before any
work or output, inputs are never overwritten, failures are named and exit 1.

Real components throughout (the command as a user runs it, in this process), on a copy of
one OSIE stimulus with hand-written point files and on the real OSIE and SALICON data.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES
from PIL import Image

from attention_center.cli import main as cli

STIMULUS = FIXTURES / "ground_truth" / "osie" / "data" / "stimuli" / "1001.jpg"  # 800 x 600
POINTS = [
    {"image": "y.jpg", "observer": o, "x": 380 + 3 * i, "y": 290 + 2 * i, "source": "mouse"}
    for o in "AB"
    for i in range(6)
]


def run(*args) -> int:
    return cli.main(["attention-center", "ground-truth", *map(str, args)])


def digests(folder: Path) -> dict:
    """Every file under ``folder`` (relative path -> bytes); folders as ``None``."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def write_points(path: Path, rows=POINTS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [dict(r, order=i) for i, r in enumerate(rows)]
    if path.suffix == ".csv":
        keys = list(rows[0])
        lines = [",".join(keys)] + [",".join(str(r[k]) for k in keys) for r in rows]
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def folder(tmp_path) -> Path:
    """``tmp/work/``: ``y.jpg`` (a real photo) and ``points.csv`` naming it."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(STIMULUS, work / "y.jpg")
    write_points(work / "points.csv")
    return work


def engine_args(engine: str) -> list:
    return ["--noprogress"] if engine == "build" else []


def needs_beam(engine):
    if engine == "beam":
        pytest.importorskip("apache_beam")


# --- inputs are never overwritten ------------------------------------------------------------


@pytest.mark.parametrize("engine", ["build", "beam"])
def test_a_point_file_that_an_output_would_replace_is_a_usage_error(engine, folder, capsys):
    needs_beam(engine)
    points = write_points(folder / "index.jsonl")  # the user's points, named like our index
    before = digests(folder)
    code = run(
        engine, "--source", points, "--data_dir", folder, "--out", folder, *engine_args(engine)
    )
    assert code == 2
    err = capsys.readouterr()[1]
    assert f"--source {points}: is the output {folder / 'index.jsonl'}; choose another --out" in err
    assert digests(folder) == before  # nothing written, nothing replaced


@pytest.mark.parametrize("engine", ["build", "beam"])
def test_a_point_file_inside_the_frames_folder_is_a_usage_error(engine, folder, capsys):
    needs_beam(engine)
    points = write_points(folder / "frames" / "points.csv")
    before = digests(folder)
    assert run(engine, "--source", points, "--out", folder, *engine_args(engine)) == 2
    assert f"lies in {folder / 'frames'}, which the build writes" in capsys.readouterr()[1]
    assert digests(folder) == before


def test_a_data_dir_inside_the_frames_folder_is_a_usage_error(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "frames" / "data").mkdir(parents=True)
    assert (
        run(
            "build",
            "--source",
            "osie_eye",
            "--data_dir",
            out / "frames" / "data",
            "--out",
            out,
            "--noprogress",
        )
        == 2
    )
    assert "--data_dir" in capsys.readouterr()[1]
    assert digests(out) == {"frames": None, "frames/data": None}


def test_a_frame_that_would_replace_an_input_image_is_not_written(folder, capsys):
    # custom/y's frame is frames/custom_y.jpg: here that file is another row's input image.
    (folder / "frames").mkdir()
    shutil.copy(STIMULUS, folder / "frames" / "custom_y.jpg")
    rows = POINTS + [dict(r, image="frames/custom_y.jpg") for r in POINTS]
    points = write_points(folder / "points.csv", rows)
    image = (folder / "frames" / "custom_y.jpg").read_bytes()
    assert run("build", "--source", points, "--out", folder, "--noprogress") == 1
    err = capsys.readouterr()[1]
    frame = folder / "frames" / "custom_y.jpg"
    assert f"ERROR: custom/y: its frame {frame} is an input image; not written" in err
    assert frame.read_bytes() == image
    index = [json.loads(line) for line in (folder / "index.jsonl").read_text().splitlines()]
    assert [r["image_id"] for r in index] == ["custom/custom_y"]  # the other one is built


# --- --out, --frame_hw: usage errors before any output -----------------------------------------


@pytest.mark.parametrize("engine", ["build", "beam"])
def test_out_that_is_a_file_is_a_usage_error(engine, folder, capsys):
    needs_beam(engine)
    taken = folder / "taken"
    taken.write_text("a file\n")
    before = digests(folder)
    assert run(engine, "--source", folder / "points.csv", "--out", taken, *engine_args(engine)) == 2
    err = capsys.readouterr()[1]
    assert f"--out {taken}: exists and is not a folder" in err and "Traceback" not in err
    assert digests(folder) == before


@pytest.mark.parametrize("engine", ["build", "beam"])
@pytest.mark.parametrize("frame_hw", ["480", "0,0", "abc,640", "480,-640", "480,640,3"])
def test_a_bad_frame_hw_is_a_usage_error(engine, frame_hw, folder, capsys):
    needs_beam(engine)
    out = folder / "out"
    assert (
        run(
            engine,
            "--source",
            folder / "points.csv",
            "--out",
            out,
            "--frame_hw",
            frame_hw,
            *engine_args(engine),
        )
        == 2
    )
    err = capsys.readouterr()[1]
    assert f"--frame_hw {frame_hw}: expected HEIGHT,WIDTH" in err and "Traceback" not in err
    assert not out.exists()


def test_reuse_frames_only_reuses_a_frame_of_the_size_asked_for(folder, capsys):
    out = folder / "out"
    args = ["build", "--source", folder / "points.csv", "--out", out, "--noprogress"]
    assert run(*args) == 0
    frame = out / "frames" / "custom_y.jpg"
    assert Image.open(frame).size == (640, 480)
    # Same size: kept as it is (a marker file of that size stands in for it).
    Image.new("RGB", (640, 480), (255, 0, 0)).save(frame)
    marker = frame.read_bytes()
    assert run(*args, "--reuse_frames") == 0
    assert frame.read_bytes() == marker
    # Another size: written again at 240 x 320, as the index says.
    assert run(*args, "--reuse_frames", "--frame_hw", "240,320") == 0
    assert Image.open(frame).size == (320, 240)
    (row,) = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert row["frame_hw"] == [240, 320]


# --- beam: the same usage checks as build ------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--source", "salicon_mous"], "--source: unknown ['salicon_mous']"),
        (
            ["--source", "salicon_mouse", "--data_dir", "/no/such/dir"],
            "--data_dir /no/such/dir: no such folder",
        ),
        (["--source", "salicon_mouse"], "--out is required"),
    ],
)
def test_beam_usage_errors_exit_2_before_any_output(args, message, tmp_path, capsys):
    pytest.importorskip("apache_beam")
    out = tmp_path / "out"
    if message != "--out is required":
        args = [*args, "--out", out]
    assert run("beam", *args) == 2
    assert message in capsys.readouterr()[1]
    assert not out.exists()


# --- measure -----------------------------------------------------------------------------------


def test_measure_unknown_source_is_a_usage_error(capsys):
    assert run("measure", "--source", "osie_ey") == 2
    err = capsys.readouterr()[1]
    assert "--source: unknown ['osie_ey']" in err and "Traceback" not in err


def test_measure_bad_counts_is_a_usage_error(shared_data_dir, capsys):
    assert (
        run(
            "measure", "--source", "salicon_mouse", "--data_dir", shared_data_dir, "--counts", "1,x"
        )
        == 2
    )
    assert "--counts 1,x: expected whole numbers or all" in capsys.readouterr()[1]


def test_measure_names_a_missing_file_and_measures_the_other_sources(
    shared_data_dir, tmp_path, capsys
):
    data = tmp_path / "data"
    (data / "osie" / "data" / "eye").mkdir(parents=True)  # no fixations.mat
    (data / "salicon_examples").symlink_to((shared_data_dir / "salicon_examples").resolve())
    code = run(
        "measure", "--source", "osie_eye,salicon_mouse", "--data_dir", data, "--counts", "1,30"
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert (
        f"ERROR: osie_eye: {data / 'osie' / 'data' / 'eye' / 'fixations.mat'}: no such file" in err
    )
    assert "**salicon_mouse**" in out and "| 30 | - |" in out
    assert "Traceback" not in err


def test_measure_with_every_file_unreadable_says_so(tmp_path, capsys):
    folder = tmp_path / "osie" / "data" / "mouse_lab"
    folder.mkdir(parents=True)
    (folder / "1001.mat").write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    assert run("measure", "--source", "osie_mouse_lab", "--data_dir", tmp_path) == 1
    err = capsys.readouterr()[1]
    assert f"ERROR: osie_mouse_lab: {folder / '1001.mat'}: not a readable MATLAB file" in err
    assert "ERROR: osie_mouse_lab: no records to measure (dropped: files_unreadable 1)" in err
    assert "Traceback" not in err


def test_a_relative_source_that_is_the_index_is_caught_too(tmp_path, capsys):
    """A relative --source that names OUT/index.jsonl from the working folder is caught too."""
    write_points(tmp_path / "index.jsonl")
    shutil.copy(STIMULUS, tmp_path / "y.jpg")
    before = digests(tmp_path)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert run("build", "--source", "index.jsonl", "--out", ".", "--noprogress") == 2
    finally:
        os.chdir(cwd)
    assert "is the output" in capsys.readouterr()[1]
    assert digests(tmp_path) == before
