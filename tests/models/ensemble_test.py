"""AttentionCenterEnsemble and ``attention-center ensemble`` (TF and JAX; export: TF).

Members are small random-backbone models whose heads are given structure on real Kodak
photos (``export_models.give_structure``), so their centres differ from image to image
and from each other, and "the mean of the members" is a claim that can fail.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from export_models import give_structure

import attention_center as ac
from attention_center.cli import ensemble as ensemble_cli
from attention_center.cli.main import main as attention_center_command
from attention_center.core.images import load_image, resize_with_pad


def _frames(kodak_paths, hw, start=0, count=3):
    return np.stack(
        [resize_with_pad(load_image(p), hw)[0] for p in kodak_paths[start : start + count]]
    )


@pytest.fixture(scope="module")
def members(kodak_paths):
    """Two different members built at 120x160: P2-P5 bilinear (map 30x40), P3-P5 transpose
    (map 15x20, so the ensemble must resize it before averaging the maps)."""
    frames = _frames(kodak_paths, (120, 160), 6, 4)
    keras.utils.set_random_seed(3)
    a = ac.build_model(
        "mobilenet_v2", input_shape=(120, 160, 3), alpha=0.35, backbone_weights=None, head_width=8
    )
    keras.utils.set_random_seed(4)
    b = ac.build_model(
        "mobilenet_v2",
        input_shape=(120, 160, 3),
        alpha=0.35,
        backbone_weights=None,
        head_width=8,
        levels=("P3", "P4", "P5"),
        upsampling="transpose",
    )
    return give_structure(a, frames), give_structure(b, frames)


def test_centre_is_the_mean_of_the_members_and_maps_are_resized(members, kodak_paths):
    a, b = members
    frames = _frames(kodak_paths, (120, 160))
    ensemble = ac.AttentionCenterEnsemble.from_models([a, b], input_shape=(120, 160, 3))
    out = ensemble.predict(frames, verbose=0)
    ca = a.predict(frames, verbose=0)["center"]
    cb = b.predict(frames, verbose=0)["center"]
    # The members disagree (else a mean would prove nothing), and the ensemble is their mean.
    assert np.linalg.norm(ca - cb, axis=-1).min() > 1.0
    np.testing.assert_allclose(out["center"], (ca + cb) / 2, atol=1e-3)
    assert out["weight_map"].shape == (3, 30, 40, 1)
    map_a = a.predict(frames, verbose=0)["weight_map"]
    map_b = keras.ops.convert_to_numpy(
        ac.ResizeTo(30, 40)(b.predict(frames, verbose=0)["weight_map"])
    )
    np.testing.assert_allclose(out["weight_map"], (map_a + map_b) / 2, atol=1e-5)
    assert [m.name for m in ensemble.members] == ["member_0", "member_1"]


def test_keras_round_trip_and_with_input_shape(members, kodak_paths, tmp_path):
    a, b = members
    ensemble = ac.AttentionCenterEnsemble.from_models([a, b], input_shape=(120, 160, 3))
    path = tmp_path / "ensemble.keras"
    ensemble.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert isinstance(loaded, ac.AttentionCenterEnsemble)
    assert loaded.get_config() == ensemble.get_config()
    frames = _frames(kodak_paths, (120, 160))
    np.testing.assert_allclose(
        loaded.predict(frames, verbose=0)["center"],
        ensemble.predict(frames, verbose=0)["center"],
        atol=1e-5,
    )
    # At twice the size each member resizes to the 120x160 it was built at (its internal_hw
    # is None, so it works at the new input size: compare with the members rebuilt likewise).
    big = loaded.with_input_shape((240, 320, 3))
    big_frames = _frames(kodak_paths, (240, 320))
    expected = np.mean(
        [
            m.with_input_shape((240, 320, 3)).predict(big_frames, verbose=0)["center"]
            for m in (a, b)
        ],
        axis=0,
    )
    np.testing.assert_allclose(big.predict(big_frames, verbose=0)["center"], expected, atol=1e-3)
    # Ensembles of ensembles are flattened.
    nested = ac.AttentionCenterEnsemble.from_models([loaded, a], input_shape=(120, 160, 3))
    assert len(nested.members) == 3


def test_only_attention_centre_models_can_be_members():
    plain = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)]
    )
    with pytest.raises(TypeError, match="not an AttentionCenterModel"):
        ac.AttentionCenterEnsemble.from_models([plain])
    with pytest.raises(ValueError, match="at least one member"):
        ac.AttentionCenterEnsemble([])


def test_cli_writes_the_ensemble_and_reports_each_bad_file(members, kodak_paths, tmp_path, capsys):
    a, b = members
    a.save(tmp_path / "a.keras")
    b.save(tmp_path / "b.keras")
    out = tmp_path / "ens" / "model.keras"
    argv = [
        "ensemble",
        "--model",
        str(tmp_path / "a.keras"),
        "--model",
        str(tmp_path / "b.keras"),
        "--out",
        str(out),
        "--input_size",
        "120x160",
    ]
    assert attention_center_command(["attention-center", *argv]) == 0
    loaded = keras.saving.load_model(out, compile=False)
    frames = _frames(kodak_paths, (120, 160))
    expected = (a.predict(frames, verbose=0)["center"] + b.predict(frames, verbose=0)["center"]) / 2
    np.testing.assert_allclose(loaded.predict(frames, verbose=0)["center"], expected, atol=1e-3)
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.keras"]  # no temporary left

    # A missing file and a corrupt one: both named, a usage error (exit 2, as the README
    # says for an invalid model), the existing output untouched.
    before = out.read_bytes()
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    argv = [
        "ensemble",
        "--model",
        str(tmp_path / "a.keras"),
        "--model",
        str(tmp_path / "missing.keras"),
        "--model",
        str(tmp_path / "bad.keras"),
        "--out",
        str(out),
        "--input_size",
        "120x160",
    ]
    capsys.readouterr()
    assert attention_center_command(["attention-center", *argv]) == 2
    err = capsys.readouterr().err
    assert "missing.keras: no such model file" in err
    assert "bad.keras: not a valid .keras file: not a zip archive" in err
    assert out.read_bytes() == before
    # The output may not overwrite an input.
    with pytest.raises(ensemble_cli.EnsembleError, match="is also an input"):
        ensemble_cli.build_ensemble_file([tmp_path / "a.keras"], tmp_path / "a.keras")
    assert attention_center_command(["attention-center", "ensemble", "--out", str(out)]) == 2


def test_exports_to_tflite_with_the_members_centres(members, kodak_paths, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TFLite export needs KERAS_BACKEND=tensorflow")
    from attention_center.inference.tflite import google_centers, make_interpreter
    from export.pipeline import Exporter

    a, b = members
    path = tmp_path / "ensemble.keras"
    ac.AttentionCenterEnsemble.from_models([a, b], input_shape=(120, 160, 3)).save(path)
    with Exporter(
        path, parity_paths=kodak_paths[:4], representative_paths=kodak_paths[6:10], progress=False
    ) as exporter:
        result = exporter.export("int8", tmp_path / "ensemble.tflite")
        _, frames, expected = exporter.reference()
    assert result.parity.passed
    assert result.metadata["model"]["backbone"] == "ensemble of 2: mobilenet_v2, mobilenet_v2"
    assert result.metadata["input"]["normalization_inside_model"] == a.normalization
    interpreter = make_interpreter(result.path, runtime="litert")
    assert list(interpreter.get_input_details()[0]["shape"]) == [1, 480, 640, 3]
    got = google_centers(interpreter, frames)
    # The reference is the ensemble rebuilt at 480x640: the mean of its members' centres.
    members_480 = [m.with_input_shape((480, 640, 3)) for m in (a, b)]
    mean = np.mean([m.predict(frames, verbose=0)["center"] for m in members_480], axis=0)
    np.testing.assert_allclose(expected, mean, atol=0.05)
    assert np.linalg.norm(got - mean, axis=-1).max() <= result.parity.threshold * np.hypot(480, 640)
