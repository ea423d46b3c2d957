"""``evaluate``, ``train``, ``export``, ``compare`` and ``beam`` on damaged inputs (issue 17).

A ground-truth build with a line that is not JSON, a missing or corrupt frame, a corrupt
original image; an output path whose folder is a file; extra cjxl flags cjxl refuses.
Each run is checked for its exit code (1: some inputs failed, each named; 2: a usage
error before any work), the message (file and problem), that the good inputs were still
used, and that no input changed. Real models (the bundled ``small`` preset's int8
``.tflite``; ``save_centroid_model``'s tiny ``.keras``), real cjxl and djxl.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import needs_jxl_tools
from PIL import Image
from robustness.corpus import digests, synthetic_photo, write_build, write_image_corpus

from attention_center.cli import main as cli


def run(*args) -> int:
    return cli.main(["attention-center", *map(str, args)])


# --- evaluate -------------------------------------------------------------------------------


def test_evaluate_names_an_unreadable_image_and_scores_the_others(tmp_path, capsys):
    build = write_build(tmp_path / "gt", corrupt_image=True)
    before = digests(tmp_path / "gt")
    out_json = tmp_path / "results.json"
    code = run(
        "evaluate",
        "--data",
        tmp_path / "gt",
        "--model",
        "default",
        "--noprogress",
        "--out_json",
        out_json,
    )
    printed, err = capsys.readouterr()
    assert code == 1
    assert f"FAILED: {build['bad']['corrupt_image']}: " in err
    results = json.loads(out_json.read_text())
    good_test = [i for i in build["good"] if int(i[-1]) % 3 == 0]  # img0, img3: the test split
    for method in results["methods"]:
        assert method["summary"]["num_images"] == len(good_test), method["name"]
    assert "| default (model.tflite) |" in printed
    assert digests(tmp_path / "gt") == before


def test_evaluate_a_malformed_index_is_a_usage_error(tmp_path, capsys):
    build = write_build(tmp_path / "gt", bad_line=True)
    before = digests(tmp_path / "gt")
    assert run("evaluate", "--data", tmp_path / "gt", "--model", "default", "--noprogress") == 2
    assert f"{build['index']}:2: not valid JSON" in capsys.readouterr()[1]
    assert digests(tmp_path / "gt") == before


# --- train ----------------------------------------------------------------------------------


def test_train_refuses_a_malformed_build_before_any_work(tmp_path, capsys):
    build = write_build(tmp_path / "gt", bad_line=True)
    assert run("train", "--data", tmp_path / "gt", "--out", tmp_path / "run") == 2
    assert f"{build['index']}:2: not valid JSON" in capsys.readouterr()[1]
    assert not (tmp_path / "run").exists()


def test_train_names_every_unreadable_frame_before_any_work(tmp_path, capsys):
    """A copied build with a missing and a corrupt frame used to fail mid-epoch with a
    traceback; now each frame is named, nothing is trained, nothing written."""
    build = write_build(tmp_path / "gt", missing_frame=True, corrupt_frame=True)
    before = digests(tmp_path / "gt")
    assert run("train", "--data", tmp_path / "gt", "--out", tmp_path / "run") == 2
    err = capsys.readouterr()[1]
    assert "2 training frame(s) cannot be read" in err
    assert f"{build['bad']['missing_frame']}: no such file" in err
    assert f"{build['bad']['corrupt_frame']}: corrupt or truncated image" in err
    assert not (tmp_path / "run").exists() and digests(tmp_path / "gt") == before


# --- export ---------------------------------------------------------------------------------


def test_export_checks_its_output_folder_before_converting(tmp_path, capsys, monkeypatch):
    """A usage error before TensorFlow is imported (the conversion takes minutes)."""
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # export sets it; keep the env as it was
    (tmp_path / "model.keras").write_bytes(b"never read")
    (tmp_path / "taken").write_text("a file where the folder should be\n")
    before = digests(tmp_path)
    out = tmp_path / "taken" / "center.tflite"
    assert (
        run(
            "export",
            "--model",
            tmp_path / "model.keras",
            "--out",
            out,
            "--quantization",
            "float32",
            "--noprogress",
        )
        == 2
    )
    err = capsys.readouterr()[1]
    assert f"--out {out}: its folder {tmp_path / 'taken'}: exists and is not a folder" in err
    assert digests(tmp_path) == before


# --- compare --------------------------------------------------------------------------------


@needs_jxl_tools
def test_compare_bad_image_loop_and_bad_flags(tmp_path, capsys):
    images = tmp_path / "in"
    cases = write_image_corpus(images)
    before = digests(images)
    common = [
        "--model",
        "default",
        "--google_model",
        "none",
        "--budgets",
        "20",
        "--gt_dir",
        "",
        "--out",
    ]
    assert run("compare", images / "corrupt.jpg", *common, tmp_path / "c1") == 1
    assert f"{images / 'corrupt.jpg'}: {cases['corrupt.jpg'].reason}" in capsys.readouterr()[1]
    assert run("compare", images / "loop.jpg", *common, tmp_path / "c2") == 2
    assert f"{images / 'loop.jpg'}: symbolic link loop" in capsys.readouterr()[1]
    assert run("compare", images / "photo.png", *common, tmp_path / "c3", "--", "--bogus") == 2
    assert "Unknown argument: --bogus" in capsys.readouterr()[1]
    assert not any((tmp_path / name).exists() for name in ("c1", "c2", "c3"))
    # The good image is compared: the page is written.
    assert run("compare", images / "photo.png", *common, tmp_path / "c4") == 0
    assert (tmp_path / "c4" / "index.html").stat().st_size > 0
    assert digests(images) == before


# --- beam -----------------------------------------------------------------------------------


@needs_jxl_tools
def test_beam_bad_cjxl_flags_are_a_usage_error(tmp_path, capsys):
    pytest.importorskip("apache_beam")
    images = tmp_path / "in"
    images.mkdir()
    Image.fromarray(synthetic_photo()).save(images / "photo.png")
    assert (
        run(
            "beam",
            "--input",
            f"{images}/*.png",
            "--output",
            tmp_path / "out",
            "--encode",
            "--model",
            "default",
            "--",
            "--bogus",
        )
        == 2
    )
    assert "Unknown argument: --bogus" in capsys.readouterr()[1]
    assert not (tmp_path / "out").exists()


def test_symbolic_link_loops_as_data_folders(tmp_path, capsys):
    """``--data`` / ``--data_dir`` that loop: a usage error or a named failure, never a
    ``RuntimeError`` traceback from ``Path.resolve``."""
    os.symlink("loop", tmp_path / "loop")
    assert run("train", "--data", tmp_path / "loop", "--out", tmp_path / "run") == 2
    assert "no index.jsonl" in capsys.readouterr()[1]
    assert run("evaluate", "--data", tmp_path / "loop", "--model", "default") == 2
    capsys.readouterr()
    assert (
        run(
            "ground-truth",
            "build",
            "--source",
            "osie_eye",
            "--data_dir",
            tmp_path / "loop",
            "--out",
            tmp_path / "gt",
            "--noprogress",
        )
        == 2  # a usage error before any work, as README says (issue 26)
    )
    assert f"--data_dir {tmp_path / 'loop'}: symbolic link loop" in capsys.readouterr()[1]
    assert not Path(tmp_path / "run").exists() and not Path(tmp_path / "gt").exists()


def test_output_paths_that_cannot_be_written_are_usage_errors_before_any_work(tmp_path, capsys):
    """Every command that writes checks where, first (a file where a folder must be)."""
    write_build(tmp_path / "gt")
    Image.fromarray(synthetic_photo()).save(tmp_path / "photo.png")
    taken = tmp_path / "taken"
    taken.write_text("a file\n")
    before = digests(tmp_path)
    for args, words in [
        (
            (
                "predict",
                tmp_path / "photo.png",
                "--model",
                "default",
                "--overlay",
                taken,
                "--noprogress",
            ),
            f"--overlay {taken}: exists and is not a folder",
        ),
        (
            (
                "evaluate",
                "--data",
                tmp_path / "gt",
                "--model",
                "default",
                "--out_json",
                taken / "r.json",
                "--noprogress",
            ),
            f"--out_json {taken / 'r.json'}: its folder {taken}: exists",
        ),
        (
            ("ensemble", "--model", tmp_path / "m.keras", "--out", taken / "e.keras"),
            f"--out {taken / 'e.keras'}: its folder {taken}: exists",
        ),
        (
            ("train", "--data", tmp_path / "gt", "--out", taken),
            f"--out {taken}: exists and is not a folder",
        ),
    ]:
        assert run(*args) == 2, args
        assert words in capsys.readouterr()[1], args
    assert digests(tmp_path) == before
