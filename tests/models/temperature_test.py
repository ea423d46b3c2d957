"""The head's temperature (post-training calibration): it serializes and survives a ``.keras``
round trip, scales the logits (and only them), a model copy at another temperature keeps
every weight, the int8 export stays builtin-only, and the fit on a real ground-truth build
keeps the candidate with the lowest error, which the written model then scores."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from head_inputs import random_taps  # noqa: E402

from attention_center import AttentionCenterHead, build_model  # noqa: E402
from attention_center.models import load_model, with_head_temperature  # noqa: E402

HW = (48, 64)


def _logits(maps):
    maps = np.clip(np.asarray(maps, np.float64), 1e-6, 1 - 1e-6)
    return np.log(maps / (1 - maps))


def test_temperature_scales_the_logits_and_round_trips_in_the_config():
    plain = AttentionCenterHead(width=8, priors=3, name="h")
    plain(random_taps())
    config = plain.get_config()
    assert config["temperature"] == 1.0
    sharp = AttentionCenterHead.from_config({**config, "temperature": 1.7})
    sharp(random_taps())
    sharp.set_weights(plain.get_weights())
    assert sharp.get_config()["temperature"] == 1.7
    np.testing.assert_allclose(
        _logits(sharp(random_taps())), 1.7 * _logits(plain(random_taps())), rtol=1e-3, atol=1e-3
    )
    old = {k: v for k, v in config.items() if k != "temperature"}  # a config from before 0.6
    assert AttentionCenterHead.from_config(old).temperature == 1.0
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            AttentionCenterHead(temperature=bad)


def test_a_copy_at_another_temperature_keeps_the_weights_and_survives_keras_files(
    tmp_path, kodak_paths
):
    from export_models import give_structure

    from export.images import load_frames

    keras.utils.set_random_seed(0)
    model = build_model(
        "mobilenet_v3_small", input_shape=(*HW, 3), backbone_weights=None, head_priors=2
    )
    _, frames = load_frames(kodak_paths[:6], HW)
    give_structure(model, frames)
    before = [w.copy() for w in model.get_weights()]
    copy = with_head_temperature(model, 1.5)
    assert copy.get_config()["head_temperature"] == 1.5
    assert model.get_config()["head_temperature"] == 1.0  # the input is not changed
    for a, b, c in zip(before, model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    base_out = model.predict(frames, verbose=0)
    copy_out = copy.predict(frames, verbose=0)
    base_z, copy_z = _logits(base_out["weight_map"]), _logits(copy_out["weight_map"])
    unsaturated = np.abs(1.5 * base_z) < 9  # float32 sigmoids of larger logits are 0 or 1
    assert unsaturated.mean() > 0.5
    np.testing.assert_allclose(copy_z[unsaturated], 1.5 * base_z[unsaturated], atol=2e-2)
    moved = np.linalg.norm(copy_out["center"] - base_out["center"], axis=-1)
    assert moved.max() > 0.5, moved  # a sharper map moves the centres
    path = tmp_path / "calibrated.keras"
    copy.save(path)
    loaded = load_model(path)
    assert loaded.get_layer("center_head").temperature == 1.5
    np.testing.assert_allclose(
        loaded.predict(frames, verbose=0)["center"], copy_out["center"], atol=1e-3
    )
    # Replaces, not multiplies: back to 1 gives the plain model.
    np.testing.assert_allclose(
        with_head_temperature(copy, 1.0).predict(frames, verbose=0)["center"],
        base_out["center"],
        atol=1e-3,
    )
    with pytest.raises(ValueError, match="temperature"):
        with_head_temperature(model, 0)
    with pytest.raises(TypeError, match="AttentionCenterModel"):
        with_head_temperature(keras.Sequential([keras.layers.Dense(1)]), 1.2)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TFLite export needs TF")
def test_int8_tflite_with_a_temperature_is_builtin_only(kodak_paths):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from export_models import int8_content_following, structured_lite0_model

    model, frames = structured_lite0_model(kodak_paths, head_priors=4)
    sharp = with_head_temperature(model, 1.4)
    content = int8_content_following(sharp, frames)
    assert content != int8_content_following(model, frames)  # the factor is in the graph


@pytest.fixture(scope="module")
def calibration_case(tmp_path_factory, shared_data_dir, kodak_paths):
    """A small structured model at 240x320 and a real two-dataset build of 6 OSIE images."""
    from export_models import save_small_model
    from small_ground_truth import two_dataset_build

    from export.images import load_frames

    root = tmp_path_factory.mktemp("calibrate")
    _, frames = load_frames(kodak_paths[:6], (240, 320))
    model_path = root / "model.keras"
    save_small_model(model_path, frames, backbone="mobilenet_v3_small", alpha=0.75, head_priors=2)
    build = two_dataset_build(tmp_path_factory, shared_data_dir, images=6)
    return model_path, build


def test_fit_keeps_the_best_candidate_and_the_written_model_scores_it(calibration_case):
    from attention_center.evaluation.evaluate import evaluate
    from attention_center.evaluation.temperature import fit_temperature

    model_path, build = calibration_case
    model = load_model(model_path)
    splits = ("train", "val", "test")
    fit = fit_temperature(model, build, split=splits, temperatures=(0.5, 1.0, 3.0))
    assert set(fit.errors) == {"osie", "other"}
    assert sum(fit.num_records.values()) == 6
    best = int(np.argmin(fit.objective))
    assert fit.temperature == (0.5, 1.0, 3.0)[best]
    assert len(set(np.round(fit.objective, 6))) == 3  # the candidates differ
    # The objective is the mean over datasets of the real evaluation's mean errors.
    chosen = with_head_temperature(model, fit.temperature)
    result = evaluate(build, [chosen], split=splits, modality=None, progress=False, names=["m"])
    errors = next(m for m in result.methods if m.name == "m").errors
    datasets = np.array([r["dataset"] for r in result.records])
    per_dataset = [errors[datasets == d].mean() for d in ("osie", "other")]
    assert np.mean(per_dataset) == pytest.approx(fit.objective[best], abs=1e-6)
    assert "(chosen)" in fit.markdown()


def _calibrate(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "attention_center", "calibrate", "--noprogress", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _calibrate_here(capsys, *args):
    """``attention-center calibrate`` in this process: ``(exit code, stderr)``."""
    from attention_center.cli.main import main

    capsys.readouterr()
    code = main(["attention-center", "calibrate", "--noprogress", *args])
    return code, capsys.readouterr().err


def test_calibrate_command_writes_the_chosen_model_and_never_its_input(
    calibration_case, tmp_path, capsys
):
    model_path, build = calibration_case
    input_bytes = model_path.read_bytes()
    out = tmp_path / "calibrated.keras"
    table = tmp_path / "temperature.md"
    common = ["--data", str(build), "--split", "train,val,test", "--temperatures", "1,2.5"]
    done = _calibrate(
        "--model", str(model_path), "--out", str(out), "--markdown", str(table), *common
    )
    assert done.returncode == 0, done.stderr
    chosen = float(done.stdout.split("chosen temperature ")[1].split()[0])
    assert chosen in (1.0, 2.5)
    assert load_model(out).get_layer("center_head").temperature == chosen
    assert "(chosen)" in table.read_text()
    assert model_path.read_bytes() == input_bytes
    # The refusals, in this process (the command's code, without three more TensorFlow starts).
    # The input as the output: refused before any work, the input untouched.
    code, err = _calibrate_here(
        capsys, "--model", str(model_path), "--out", str(model_path), *common
    )
    assert code == 2 and "is the input model" in err, err
    assert model_path.read_bytes() == input_bytes
    # A file that is not a model, a bad temperature: exit 2, the file and the problem named.
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    code, err = _calibrate_here(
        capsys, "--model", str(junk), "--out", str(tmp_path / "o.keras"), *common
    )
    assert code == 2 and str(junk) in err, err
    assert not (tmp_path / "o.keras").exists()
    code, err = _calibrate_here(
        capsys, "--model", str(model_path), "--out", str(tmp_path / "o.keras"),
        "--data", str(build), "--temperatures", "1,-2",
    )  # fmt: skip
    assert code == 2 and "--temperatures" in err, err
