"""Tests for the attention-center command (predict / encode), with real models, cjxl and djxl."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, needs_jxl_tools, save_centroid_model
from PIL import Image

from attention_center.cli import main as cli
from attention_center.core.images import load_image


@pytest.fixture(scope="module")
def centroid_model(tmp_path_factory) -> Path:
    """A real .keras model whose centre is the brightness centroid (outputs centre + map)."""
    return save_centroid_model(tmp_path_factory.mktemp("model") / "centroid.keras")


@pytest.fixture()
def photos(kodak_paths, tmp_path) -> Path:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(kodak_paths[0], folder / "k1.png")
    shutil.copy(kodak_paths[3], folder / "sub" / "k4.png")
    return folder


def run(*args) -> int:
    return cli.main(["attention-center", *map(str, args)])


def test_console_script_and_module_entry_points():
    scripts = {e.name: e.value for e in metadata.entry_points(group="console_scripts")}
    assert scripts.get("attention-center") == "attention_center.cli.main:run"
    main_module = (REPO / "attention_center" / "__main__.py").read_text()
    assert "from attention_center.cli.main import run" in main_module


def test_predict_json_with_a_bad_file(centroid_model, photos, capsys):
    bad = photos / "bad.jpg"
    bad.write_bytes(b"")
    code = run(
        "predict", photos / "k1.png", bad, photos / "sub", "--model", centroid_model, "--noprogress"
    )
    out, err = capsys.readouterr()
    assert code == 1
    rows = json.loads(out)
    assert [Path(r["path"]).name for r in rows] == ["k1.png", "bad.jpg", "k4.png"]
    assert rows[1]["center"] is None and "empty file" in rows[1]["error"]
    assert "bad.jpg: empty file" in err
    for row in (rows[0], rows[2]):
        h, w = row["original_hw"]
        assert row["error"] is None and 0 <= row["center"][0] <= w - 1
        assert 0 <= row["center"][1] <= h - 1
    assert rows[2]["original_hw"] == [768, 512]  # portrait, as displayed


def test_predict_csv_and_overlays(centroid_model, photos, tmp_path, capsys):
    overlays = tmp_path / "overlays"
    code = run(
        "predict",
        photos,
        "--model",
        centroid_model,
        "--format",
        "csv",
        "--overlay",
        overlays,
        "--noprogress",
    )
    out, _ = capsys.readouterr()
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [Path(r["path"]).name for r in rows] == ["k1.png", "k4.png"]
    for row, name in zip(rows, ["k1.png.overlay.png", "sub/k4.png.overlay.png"]):
        picture = np.asarray(Image.open(overlays / name))
        original = load_image(row["path"])
        assert picture.shape == original.shape
        assert (int(row["height"]), int(row["width"])) == original.shape[:2]
        x, y = round(float(row["x"])), round(float(row["y"]))
        assert picture[y, x].tolist() == [255, 255, 255]  # the mark is on the centre


def test_predict_bad_images_each_get_a_clear_error(centroid_model, bad_images, capsys):
    folder, usable, _ = bad_images
    code = run("predict", folder, "--model", centroid_model, "--noprogress")
    out, err = capsys.readouterr()
    assert code == 1
    rows = {Path(r["path"]).name: r for r in json.loads(out)}
    assert set(rows) == set(usable)
    for name, ok in usable.items():
        assert (rows[name]["error"] is None) == ok, rows[name]
        if ok:
            h, w = rows[name]["original_hw"]
            assert 0 <= rows[name]["center"][0] <= w - 1 and 0 <= rows[name]["center"][1] <= h - 1
        else:
            assert rows[name]["center"] is None
            assert f"{name}: {rows[name]['error']}" in err  # named on stderr, one line each
    assert rows["one.png"]["center"] == [0.0, 0.0] and rows["one.png"]["original_hw"] == [1, 1]
    assert "decompression bomb" in rows["bomb.png"]["error"]
    assert "empty file" in rows["zero.jpg"]["error"]
    assert "5 of 10 inputs failed" in err
    assert "anim.gif: note: animated: the first of 2 frames was used" in err


@needs_jxl_tools
def test_encode_with_google_flag_names_and_extra_cjxl_flags(
    centroid_model, photos, tmp_path, capsys
):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "jxl"
    code = run(
        "encode",
        "--image_dir",
        photos,
        "--output_dir",
        out,
        "--lite_model_file",
        centroid_model,
        "--new_suffix",
        "jxl",
        "--verbose",
        "--jobs",
        "2",
        "--noprogress",
        "--",
        "--effort=3",
    )
    printed, _ = capsys.readouterr()
    assert code == 1  # broken.png failed; the others went on
    assert "3 images: 2 encoded, 1 failed" in printed and "broken.png" in printed
    sizes_in = sum((photos / n).stat().st_size for n in ("k1.png", "sub/k4.png"))
    sizes_out = sum((out / n).stat().st_size for n in ("k1.png.jxl", "sub/k4.png.jxl"))
    assert f"bytes: {sizes_in:,} in -> {sizes_out:,} out" in printed
    assert printed.count("--group_order 1 --center_x") == 2 and "--effort=3" in printed
    for name in ("k1.png.jxl", "sub/k4.png.jxl"):
        decoded = tmp_path / "d.png"
        subprocess.run(["djxl", str(out / name), str(decoded)], check=True, capture_output=True)
        assert Image.open(decoded).size == Image.open(photos / name[:-4]).size
    # Resume: nothing left to do.
    (photos / "broken.png").unlink()
    assert (
        run(
            "encode",
            "--image_dir",
            photos,
            "--output_dir",
            out,
            "--model",
            centroid_model,
            "--skip_existing",
            "--noprogress",
        )
        == 0
    )
    assert "2 images: 0 encoded, 2 skipped" in capsys.readouterr()[0]


def test_encode_dry_run_writes_nothing(centroid_model, photos, tmp_path, capsys):
    code = run(
        "encode",
        "--image_dir",
        photos,
        "--output_dir",
        tmp_path / "out",
        "--model",
        centroid_model,
        "--dry_run",
        "--noprogress",
        "--encoder",
        "cjxl",
        "--",
        "-d",
        "1",
    )
    out, _ = capsys.readouterr()
    assert code == 0 and not (tmp_path / "out").exists()
    commands = [line for line in out.splitlines() if "--center_x" in line]
    assert len(commands) == 2 and all(line.endswith("-d 1") for line in commands)


@pytest.mark.parametrize(
    "args,message",
    [
        ((), "no command given"),
        (("frobnicate",), "unknown command 'frobnicate'"),
        (("predict",), "needs image files"),
        (("predict", "x.png", "--", "-d", "1"), "only for encode"),
        (("encode",), "needs --image_dir"),
        (("encode", "--image_dir", "/no/such/dir"), "not a directory"),
        (("encode", "--image_dir", "."), "needs --output_dir"),
        (("encode", "--image_dir", ".", "--output_dir", "o", "stray"), "no positional"),
        (("predict", "x.png", "--model", "/no/such/model.tflite"), "no such model file"),
    ],
)
def test_usage_errors_exit_2(args, message, capsys):
    assert run(*args) == 2
    assert message in capsys.readouterr()[1]


def test_help_exits_0_and_lists_every_command(capsys):
    assert run("--help") == 0
    out = capsys.readouterr()[0]
    for name in cli.COMMANDS:
        assert f"  {name} " in out
    assert run("-h") == 0


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_has_help_that_exits_0_and_shows_its_flags(command, flag, capsys):
    before = os.environ.get("KERAS_BACKEND")
    assert run(command, flag) == 0
    out = capsys.readouterr()[0]
    assert "usage" in out.lower() and "\nflags:\n" in out
    assert "  --" in out.split("\nflags:\n")[1]  # its flags are listed
    assert os.environ.get("KERAS_BACKEND") == before  # help chose no backend


def test_a_bad_flag_is_a_usage_error_for_every_command(capsys):
    for command in cli.COMMANDS:
        assert run(command, "--no_such_flag=1") == 2, command
        assert "no_such_flag" in capsys.readouterr()[1]


def test_encoder_not_found_exits_2(centroid_model, photos, tmp_path, capsys):
    assert (
        run(
            "encode",
            "--image_dir",
            photos,
            "--output_dir",
            tmp_path / "o",
            "--model",
            centroid_model,
            "--encoder",
            "/nowhere/cjxl-missing",
            "--noprogress",
        )
        == 2
    )
    assert "libjxl-tools" in capsys.readouterr()[1]


def test_python_dash_m(centroid_model, kodak_paths):
    run_ = subprocess.run(
        [
            sys.executable,
            "-m",
            "attention_center",
            "predict",
            str(kodak_paths[0]),
            "--model",
            str(centroid_model),
            "--format=csv",
            "--noprogress",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert run_.returncode == 0, run_.stderr[-1500:]
    [row] = list(csv.DictReader(io.StringIO(run_.stdout)))
    assert Path(row["path"]).name == kodak_paths[0].name and float(row["x"]) > 0
