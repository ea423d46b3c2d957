"""``attention-center beam`` on a real runner (Beam's FnApiRunner), on the 24 Kodak photos.

One pipeline run (module fixture) of ``--encode`` over the Kodak PNGs plus a truncated real
JPEG, then a rerun with ``--skip_existing``; the assertions share them. The centres are
compared with :func:`attention_center.inference.prediction.predict_images` (what
``attention-center predict`` runs) on the same files and the same bundled model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("apache_beam")

from attention_center.cli import main as cli  # noqa: E402
from attention_center.jxl.center_choice import choose_for_center  # noqa: E402
from attention_center.presets import get_preset  # noqa: E402

CJXL, DJXL = shutil.which("cjxl"), shutil.which("djxl")
DEFAULT_VERSION = get_preset("default").metadata()["version"]  # what the rows must name


def run_cli(*args) -> int:
    return cli.main(["attention-center", "beam", *map(str, args)])


def snapshot(folder: Path) -> dict:
    """Every file under ``folder``: (size, mtime_ns, inode): what a rewrite would change."""
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_ino)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, kodak_paths, shared_data_dir) -> Path:
    """The 24 Kodak PNGs (symlinked) and ``corrupt.jpg``: the first half of a real JPEG."""
    assert len(kodak_paths) == 24
    folder = tmp_path_factory.mktemp("beam_inputs")
    for path in kodak_paths:
        (folder / path.name).symlink_to(path.resolve())
    jpeg = (shared_data_dir / "osie" / "data" / "stimuli" / "1001.jpg").read_bytes()
    (folder / "corrupt.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "notes.txt").write_text("not an image: ignored\n")
    return folder


@pytest.fixture(scope="module")
def job(inputs, tmp_path_factory):
    """A first run with --encode, its snapshot, then a rerun with --skip_existing."""
    if CJXL is None:
        pytest.skip("cjxl not installed (apt-get install libjxl-tools)")
    out = tmp_path_factory.mktemp("beam_out") / "out"
    args = ("--input", f"{inputs}/*", "--output", out, "--encode", "--runner=FnApiRunner")
    first = run_cli(*args)
    before = snapshot(out)
    rerun = run_cli(*args, "--skip_existing")
    return {"out": out, "first": first, "rerun": rerun, "before": before, "after": snapshot(out)}


def test_exit_code_is_1_because_one_input_failed(job):
    assert job["first"] == 1
    assert job["rerun"] == 1  # the corrupt file is tried again, and fails again


def test_centres_equal_attention_center_predict_to_the_pixel(job, inputs, kodak_paths):
    from attention_center.inference.prediction import predict_images
    from attention_center.inference.predictors import load_predictor

    rows = {row["file"]: row for row in read_rows(job["out"] / "centers.jsonl")}
    assert len(rows) == 24
    paths = [inputs / p.name for p in kodak_paths]
    expected = list(predict_images(paths, load_predictor("default")))
    worst = 0.0
    for prediction in expected:
        row = rows[str(prediction.source)]
        assert (row["height"], row["width"]) == prediction.original_hw
        worst = max(
            worst, abs(row["x"] - prediction.center[0]), abs(row["y"] - prediction.center[1])
        )
        assert row["model"] == "default" and row["model_version"] == DEFAULT_VERSION
    assert worst <= 1e-9, f"largest difference from predict: {worst} px"


def test_rows_are_sorted_and_name_their_jxl(job):
    rows = read_rows(job["out"] / "centers.jsonl")
    assert [r["file"] for r in rows] == sorted(r["file"] for r in rows)
    for row in rows:
        assert row["jxl"] == "jxl/" + Path(row["file"]).name + ".jxl"
        assert (job["out"] / row["jxl"]).stat().st_size == row["bytes_out"]
        assert 0 <= row["x"] <= row["width"] - 1 and 0 <= row["y"] <= row["height"] - 1
        # encode's default centre strategy: the chosen group order's point nearest the centre.
        chosen = choose_for_center((row["x"], row["y"]), (row["height"], row["width"])).center
        assert row["jxl_center"] == list(chosen)


def test_jxl_files_are_byte_for_byte_what_encode_writes(job, kodak_paths, tmp_path):
    """``beam --encode`` used the model's centre and no ``--progressive_dc`` while ``encode``
    uses the chosen centre and the preview: the same command defaults now, the same files."""
    folder = tmp_path / "in"
    folder.mkdir()
    names = [p.name for p in kodak_paths[:3]]
    for path in kodak_paths[:3]:
        (folder / path.name).symlink_to(path.resolve())
    status = cli.main(
        ["attention-center", "encode", "--image_dir", str(folder), "--output_dir",
         str(tmp_path / "out"), "--noprogress"]
    )  # fmt: skip
    assert status == 0
    rows = {Path(r["file"]).name: r for r in read_rows(job["out"] / "centers.jsonl")}
    for name in names:
        ours = (job["out"] / rows[name]["jxl"]).read_bytes()
        assert ours == (tmp_path / "out" / (name + ".jxl")).read_bytes(), name
    moved = [
        r
        for r in rows.values()
        if r["jxl_center"] != [int(np.floor(r["x"] + 0.5)), int(np.floor(r["y"] + 0.5))]
    ]
    assert moved, "no centre was moved by the chosen strategy: the comparison says little"


def test_dead_letter_names_the_corrupt_file_only(job, inputs):
    errors = read_rows(job["out"] / "errors.jsonl")
    assert errors == [
        {"file": str(inputs / "corrupt.jpg"), "stage": "decode", "message": errors[0]["message"]}
    ]
    assert "truncated" in errors[0]["message"] or "corrupt" in errors[0]["message"]


@pytest.mark.skipif(DJXL is None, reason="djxl not installed")
def test_24_decodable_progressive_jxl_files(job, tmp_path, kodak_paths):
    files = sorted((job["out"] / "jxl").glob("*.jxl"))
    assert [f.name for f in files] == sorted(p.name + ".jxl" for p in kodak_paths)
    for path, original in zip(files, sorted(kodak_paths)):
        decoded = tmp_path / (path.stem + ".png")
        run = subprocess.run([DJXL, str(path), str(decoded)], capture_output=True)
        assert run.returncode == 0, run.stderr[-500:]
        with Image.open(decoded) as a, Image.open(original) as b:
            assert a.size == b.size


def test_rerun_with_skip_existing_writes_nothing(job):
    assert job["after"] == job["before"]
    assert not [name for name in job["after"] if ".ac-tmp" in name]


def test_resume_after_a_killed_run_finishes_the_rest_without_duplicates(job, inputs, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(job["out"], out)
    centers = (out / "centers.jsonl").read_bytes()
    # What a kill -9 leaves: images without record or .jxl, a half-written temporary.
    for name in ("kodim05.png", "kodim17.png"):
        (out / "records" / f"{name}.json").unlink()
        (out / "jxl" / f"{name}.jxl").unlink()
    (out / "records" / "kodim09.png.json").unlink()  # .jxl written, record not yet
    (out / "centers.jsonl").unlink()
    stale = out / "jxl" / ".kodim05.png.jxl.999999-0badf00d.ac-tmp"
    stale.write_bytes(b"half a file")
    assert run_cli("--input", f"{inputs}/*", "--output", out, "--encode", "--skip_existing") == 1
    assert (out / "centers.jsonl").read_bytes() == centers  # same rows, once each
    assert not stale.exists()
    assert sorted(p.name for p in (out / "jxl").iterdir()) == sorted(
        p.name for p in (job["out"] / "jxl").iterdir()
    )
    for name in ("kodim05.png", "kodim09.png", "kodim17.png"):
        assert (out / "records" / f"{name}.json").read_bytes() == (
            job["out"] / "records" / f"{name}.json"
        ).read_bytes()


def test_two_worker_processes_give_the_same_rows(job, inputs, kodak_paths, tmp_path):
    """``--direct_num_workers 2 --direct_running_mode=multi_processing`` (the handler and
    DoFns are pickled into worker processes)."""
    subset = tmp_path / "in"
    subset.mkdir()
    for path in kodak_paths[:4]:
        (subset / path.name).symlink_to(path.resolve())
    out = tmp_path / "out"
    assert (
        run_cli(
            "--input",
            f"{subset}/*.png",
            "--output",
            out,
            "--direct_num_workers",
            "2",
            "--direct_running_mode=multi_processing",
        )
        == 0
    )
    rows = read_rows(out / "centers.jsonl")
    reference = {Path(r["file"]).name: r for r in read_rows(job["out"] / "centers.jsonl")}
    assert len(rows) == 4
    for row in rows:
        ref = reference[Path(row["file"]).name]
        assert (row["x"], row["y"], row["width"], row["height"]) == (
            ref["x"],
            ref["y"],
            ref["width"],
            ref["height"],
        )
    assert read_rows(out / "errors.jsonl") == []


def test_broken_links_and_link_loops_are_dead_letters_not_silence(kodak_paths, tmp_path, capsys):
    """Issue 26, hostile input #2: Beam's own listing drops a broken symbolic link and a
    symbolic link loop without a word; ours makes each a 'read' dead letter, counted."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / kodak_paths[0].name).symlink_to(kodak_paths[0].resolve())
    (folder / "broken.jpg").symlink_to(tmp_path / "gone.jpg")
    (folder / "loop_a.png").symlink_to(folder / "loop_b.png")
    (folder / "loop_b.png").symlink_to(folder / "loop_a.png")
    assert run_cli("--input", f"{folder}/*", "--output", tmp_path / "out") == 1
    printed = capsys.readouterr()
    assert "images 1, skipped 0, errors 3" in printed.out
    rows = read_rows(tmp_path / "out" / "errors.jsonl")
    assert [(Path(r["file"]).name, r["stage"]) for r in rows] == [
        ("broken.jpg", "read"),
        ("loop_a.png", "read"),
        ("loop_b.png", "read"),
    ]
    assert (
        "broken symbolic link" in rows[0]["message"]
        and str(tmp_path / "gone.jpg") in (rows[0]["message"])
    )
    assert all("symbolic link loop" in r["message"] for r in rows[1:])
    assert len(read_rows(tmp_path / "out" / "centers.jsonl")) == 1


@pytest.mark.parametrize(
    "args,message",
    [
        (("--output", "o"), "needs --input"),
        (("--input", "x/*.png"), "needs --output"),
        (("--input", "/no/such/dir/*.png", "--output", "o"), "matches no file"),
        (("--input", "{inputs}/*.png", "--output", "o", "--no_such_option=1"), "no_such_option"),
        (
            ("--input", "{inputs}/*.png", "--output", "o", "--model", "/no/such/m.tflite"),
            "no such model file",
        ),
        (("--input", "{inputs}/*.png", "--output", "o", "stray"), "no positional"),
        (
            ("--input", "{inputs}/*.png", "--output", "o", "--encode", "--encoder", "/no/cjxl-x"),
            "libjxl-tools",
        ),
    ],
)
def test_usage_errors_exit_2_before_any_work(args, message, inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{inputs}", str(inputs)) for a in args]
    assert run_cli(*args) == 2
    assert message in capsys.readouterr()[1]
    assert not (tmp_path / "o").exists()


def test_help_lists_our_flags(capsys):
    assert run_cli("--help") == 0
    out = capsys.readouterr()[0]
    for flag in ("--input", "--output", "--encode", "--skip_existing", "--model"):
        assert flag in out


def test_cjxl_flags_after_double_dash_and_beam_options_are_split():
    from attention_center.cli.beam import split_args

    ours, beam, cjxl = split_args(
        [
            "p",
            "--input",
            "a/*",
            "--encode",
            "--runner",
            "FlinkRunner",
            "--direct_num_workers=2",
            "--model",
            "default",
            "--",
            "--distance",
            "1.5",
        ]
    )
    assert ours == ["p", "--input", "a/*", "--encode", "--model", "default"]
    assert beam == ["--runner", "FlinkRunner", "--direct_num_workers=2"]
    assert cjxl == ["--distance", "1.5"]
