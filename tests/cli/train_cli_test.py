"""``attention-center train``'s usage errors: exit 2 with one line naming the flag or file,
before the run folder is made or anything is written into it.

Bad flags used to give tracebacks after ``config.json`` had been written (a finished run's
then no longer described its ``model.keras``), and a truncated training frame passed the
header-only check and crashed mid-epoch. Run in this process on a copy of a small real build
(7 OSIE images); nothing here trains: every case stops before the first epoch.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import save_centroid_model
from small_ground_truth import small_ground_truth

from attention_center.cli.main import main

TINY = [
    "--backbone_weights",
    "none",
    "--alpha",
    "0.35",
    "--input_size",
    "96x128",
    "--batch_size",
    "2",
    "--head_width",
    "8",
    "--sources",
    "osie_eye",
]


@pytest.fixture()
def build(tmp_path_factory, shared_data_dir, tmp_path):
    """A copy of the small build (3 train, 2 val, 2 test images), free to damage."""
    copy = tmp_path / "gt"
    shutil.copytree(small_ground_truth(tmp_path_factory, shared_data_dir).build_dir, copy)
    return copy


def _train(capsys, build, out, *extra) -> tuple[int, str]:
    capsys.readouterr()
    argv = ["attention-center", "train", "--data", build, "--out", out, *TINY, *extra]
    code = main(list(map(str, argv)))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--backbone", "nope"], "unknown backbone 'nope'; registered: "),
        (["--levels", "P9"], "levels: backbone 'mobilenet_v2' has no level(s) P9; it has P2"),
        (["--frozen_level", "P9"], "frozen_level: 'P9' is not one of the model's levels"),
        (["--alpha", "0.3"], "alpha: backbone 'mobilenet_v2' takes alpha 0.35, 0.5"),
        (["--save_freq", "abc"], "--save_freq must be 'epoch' or a number of batches >= 1"),
        (["--batch_size", "0"], "--batch_size=0"),
        (["--head_width", "0"], "--head_width=0"),
        (["--backbone_weights", "bogus"], "backbone_weights: weights must be 'imagenet'"),
        (["--teacher", "nosuch.keras"], "teacher nosuch.keras: no such model file"),
        (["--warm_start", "/no/such/m.keras"], "warm_start /no/such/m.keras: no such model file"),
        (["--sources", "nosrc"], "no train records for source(s) ['nosrc']"),
        (["--exclude_datasets", "osie"], "no records left once datasets ['osie'] are excluded"),
        (["--epochs", "0"], "--epochs=0"),
        (["--epochs", "-3", "--freeze_epochs", "0"], "--epochs=-3"),
        (["--freeze_epochs", "-1"], "--freeze_epochs=-1"),
        (["--dropout", "1.5"], "dropout must be a number >= 0 and < 1, got 1.5"),
        (["--input_size", "96x"], "96x"),
    ],
)
def test_bad_flags_are_usage_errors_before_anything_is_written(
    build, tmp_path, capsys, extra, words
):
    out = tmp_path / "run"
    code, err = _train(capsys, build, out, *extra)
    assert code == 2, err
    assert words in err, err
    assert "Traceback" not in err and not out.exists()


def test_a_warm_start_that_is_not_a_keras_model_is_named(build, tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not a model\n")
    cut = tmp_path / "cut.keras"
    cut.write_bytes(save_centroid_model(tmp_path / "whole.keras").read_bytes()[:2000])
    out = tmp_path / "run"
    for path, words in [
        (text, "not a .keras model file"),
        (cut, "not a valid .keras file: not a zip archive"),
    ]:
        code, err = _train(capsys, build, out, "--warm_start", path)
        assert code == 2 and f"warm_start {path}: {words}" in err, err
    assert not out.exists()


def test_a_config_file_value_out_of_range_is_a_usage_error(build, tmp_path, capsys):
    """Values from ``--config`` skip the flags' bounds: the trainer's check catches them."""
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"epochs": 0}))
    out = tmp_path / "run"
    code, err = _train(capsys, build, out, "--config", config)
    assert code == 2 and "epochs must be an integer >= 1, got 0" in err, err
    assert not out.exists()


def test_every_undecodable_training_frame_is_named_before_training(build, tmp_path, capsys):
    rows = [json.loads(line) for line in (build / "index.jsonl").read_text().splitlines()]
    train, val = (
        sorted({r["frame_path"] for r in rows if r["split"] == s}) for s in ("train", "val")
    )
    truncated, empty = build / train[0], build / val[0]
    truncated.write_bytes(truncated.read_bytes()[:3000])  # its header still opens
    empty.write_bytes(b"")
    out = tmp_path / "run"
    code, err = _train(capsys, build, out)
    assert code == 2, err
    assert "2 training frame(s) cannot be read" in err, err
    assert f"{truncated}: corrupt or truncated image: image file is truncated" in err, err
    assert f"{empty}: empty file (0 bytes)" in err, err
    assert "Traceback" not in err and not out.exists()


def test_a_teacher_that_cannot_make_targets_leaves_no_empty_run_folder(build, tmp_path, capsys):
    """Found once the model is built (the teacher's frame size is not the build's): exit 2,
    no ``config.json``, and the folder this run made is removed."""
    teacher = save_centroid_model(tmp_path / "teacher.keras")  # 120x160, not 480x640
    out = tmp_path / "run"
    code, err = _train(capsys, build, out, "--teacher", teacher, "--tensorboard=false")
    assert code == 2, err
    assert "is not the teacher's (120, 160)" in err, err
    assert "Traceback" not in err and not out.exists()
