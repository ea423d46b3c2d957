"""``attention-center calibrate`` never writes over its inputs, nor one output over the other.

``--markdown`` equal to ``--model`` replaced the input model; equal to ``--out`` it left a
text file where the model should be; ``--markdown gt/index.jsonl`` replaced the index. Each
is now a usage error (exit 2) found before the model is loaded, on a copy of a real build.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import save_centroid_model
from small_ground_truth import small_ground_truth

from attention_center.cli.main import main


@pytest.fixture()
def case(tmp_path_factory, shared_data_dir, tmp_path):
    build = tmp_path / "gt"
    shutil.copytree(small_ground_truth(tmp_path_factory, shared_data_dir).build_dir, build)
    model = save_centroid_model(tmp_path / "model.keras")
    return build, model


def _calibrate(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["attention-center", "calibrate", "--noprogress", *map(str, args)])
    return code, capsys.readouterr().err


def test_outputs_that_are_inputs_or_each_other_are_refused(case, tmp_path, capsys):
    build, model = case
    frame = sorted((build / "frames").iterdir())[0]
    inputs = [model, build / "index.jsonl", frame]
    before = {path: path.read_bytes() for path in inputs}
    common = ["--model", model, "--data", build, "--split", "train,val,test"]
    out = tmp_path / "calibrated.keras"
    cases = [
        (["--out", out, "--markdown", model], f"--markdown {model}: is an input (--model"),
        (["--out", out, "--markdown", out], f"--out {out} and --markdown {out} are the same"),
        (
            ["--out", out, "--markdown", build / "index.jsonl"],
            f"--markdown {build / 'index.jsonl'}: is an input (--data {build}",
        ),
        (["--out", out, "--markdown", frame], f"--markdown {frame}: is an input"),
        (["--out", tmp_path / "gt" / ".." / "model.keras"], "is the input model"),
    ]
    for extra, words in cases:
        code, err = _calibrate(capsys, *common, *extra)
        assert code == 2 and words in err, err
        assert "Traceback" not in err
    assert {path: path.read_bytes() for path in inputs} == before
    assert not out.exists()


def test_batch_size_below_one_is_a_usage_error(case, tmp_path, capsys):
    build, model = case
    out = tmp_path / "o.keras"
    code, err = _calibrate(
        capsys, "--model", model, "--data", build, "--out", out, "--batch_size", "0"
    )
    assert code == 2 and "--batch_size=0" in err, err
    assert not out.exists()
