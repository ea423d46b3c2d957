"""The models shipped in the package (presets): files, interface, metadata, Keras/TFLite agreement.

The ``default`` preset (`attention_center/assets/default_model/`, model 3.0) is what
`predict` and `encode` use by default: the <= 1 MB int8 drop-in; ``large``
(`attention_center/assets/large_model/`, model 1.3.0) is the bigger one, best on photos.
See MODEL_CARD.md and docs/BENCHMARKS.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO  # noqa: E402

from attention_center.core.images import load_image, resize_with_pad
from attention_center.inference.predictors import load_predictor
from attention_center.presets import get_preset, list_presets, resolve_model

ASSETS = REPO / "attention_center" / "assets"
MODELS = {"default_model": 1.0, "large_model": 4.0}  # folder -> largest .tflite, MB (large: 3.7)
INT8_PARITY = 0.03  # export.parity.THRESHOLDS["int8"], as a fraction of the frame diagonal


def test_every_preset_is_a_bundled_folder_with_all_its_files():
    assert {get_preset(name).directory.name for name in list_presets()} == set(MODELS)
    for name in list_presets():
        for fmt in ("tflite", "keras", "metadata"):
            assert get_preset(name).path(fmt).is_file(), (name, fmt)
    assert resolve_model(None) == ASSETS / "default_model" / "model.tflite"


@pytest.mark.parametrize("folder", sorted(MODELS))
def test_bundled_tflite_is_a_small_builtin_only_drop_in(folder):
    from ai_edge_litert.interpreter import Interpreter

    from export.flatbuffer import non_builtin_ops

    path = ASSETS / folder / "model.tflite"
    content = path.read_bytes()
    assert len(content) <= MODELS[folder] * 1e6
    assert non_builtin_ops(content) == []
    interpreter = Interpreter(model_path=str(path))
    inputs = {d["name"]: d for d in interpreter.get_input_details()}
    # Google's encode_with_centers.py looks the input up by this name and reads output 0.
    assert list(inputs["image:0"]["shape"]) == [1, 480, 640, 3]
    assert inputs["image:0"]["dtype"] == np.float32
    assert list(interpreter.get_output_details()[0]["shape"]) == [1, 2]
    card = json.loads((ASSETS / folder / "metadata.json").read_text())
    predictor = load_predictor(path)
    assert predictor.metadata["training_data"]["sources"] == card["training_data"]["sources"]
    assert predictor.metadata["input"]["shape"] == [1, 480, 640, 3]


@pytest.mark.parametrize("folder", sorted(MODELS))
def test_bundled_tflite_was_exported_from_the_bundled_keras_file_and_card(folder):
    """The embedded metadata is that of this ``model.keras`` and this ``metadata.json``.

    Catches a ``.tflite`` exported before the card's figures were filled in (or from another
    checkpoint than the one shipped beside it), and a card whose architecture (backbone,
    levels, head, temperature) is not the shipped model's.
    """
    import hashlib

    from export import read_metadata

    path = ASSETS / folder / "model.tflite"
    card = json.loads((ASSETS / folder / "metadata.json").read_text())
    for metadata in (load_predictor(path).metadata, read_metadata(path)):
        assert metadata["model_card"] == card
        assert metadata["metrics"] == card["metrics"]
        keras_bytes = (ASSETS / folder / "model.keras").read_bytes()
        assert metadata["model"]["source_sha256"] == hashlib.sha256(keras_bytes).hexdigest()
        assert metadata["model"]["version"] == card["version"]
        # The card's hand-written architecture says what the graph's own config says.
        config = metadata["model"]["config"]
        shared = card["architecture"].keys() & config.keys()
        assert {"backbone", "levels"} <= shared
        assert {k: card["architecture"][k] for k in shared} == {k: config[k] for k in shared}
    beside = json.loads(path.with_name(path.name + ".json").read_text())
    assert beside == read_metadata(path)


@pytest.mark.parametrize("folder", sorted(MODELS))
def test_bundled_keras_and_tflite_agree_on_real_photos(folder, kodak_paths):
    keras_model = load_predictor(ASSETS / folder / "model.keras")
    lite_model = load_predictor(ASSETS / folder / "model.tflite")
    assert keras_model.frame_hw == lite_model.frame_hw == (480, 640)
    frames = np.stack([resize_with_pad(load_image(p), (480, 640))[0] for p in kodak_paths[:4]])
    keras_centers = keras_model.predict_frames(frames)["center"]
    lite_centers = np.concatenate([lite_model.predict_frames(f[None])["center"] for f in frames])
    distance = np.linalg.norm(keras_centers - lite_centers, axis=1) / np.hypot(480, 640)
    assert distance.max() <= INT8_PARITY, distance
    # A trained model, not a constant: the photos get different centres.
    assert np.ptp(keras_centers[:, 0]) > 10 or np.ptp(keras_centers[:, 1]) > 10


@pytest.mark.parametrize("folder", sorted(MODELS))
def test_bundled_tflite_gives_a_centre_inside_on_flat_images(folder):
    """The int8 default gave (0, 0), the top-left corner, for flat grey, black and white
    images (and some blurred photos): its int8 sigmoid rounded every cell of the map to 0.
    The float model's centre on them is near the middle; the int8 file's must be too."""
    frames = np.stack([np.full((480, 640, 3), v, np.float32) for v in (0.0, 0.5, 1.0)])
    keras_centers = load_predictor(ASSETS / folder / "model.keras").predict_frames(frames)["center"]
    lite = load_predictor(ASSETS / folder / "model.tflite")
    lite_centers = np.concatenate([lite.predict_frames(f[None])["center"] for f in frames])
    assert np.all(lite_centers >= [160, 120]) and np.all(lite_centers <= [480, 360]), lite_centers
    distance = np.linalg.norm(keras_centers - lite_centers, axis=1) / np.hypot(480, 640)
    assert distance.max() <= INT8_PARITY, (keras_centers, lite_centers)


def test_presets_by_name_in_the_api():
    """``large`` is the 1.3.0 model (full EfficientNet-Lite0), ``default`` the compact 3.x
    (with learned priors);
    the old name ``small`` now means the default (both under 1 MB)."""
    import attention_center as ac

    assert list_presets() == ["default", "large"]
    assert resolve_model("small") == resolve_model("default") == resolve_model(None)
    assert resolve_model("large:keras") == ASSETS / "large_model" / "model.keras"
    large = ac.load_model("large")
    default = ac.load_model()
    assert large.get_config()["backbone"] == "efficientnet_lite0"
    assert default.get_config()["backbone"] == "efficientnet_lite0_compact"
    assert default.get_config()["head_priors"] == 8
    assert large.count_params() > 4 * default.count_params()
    with pytest.raises(ValueError, match="unknown model preset 'huge'"):
        ac.load_model("huge")


@pytest.mark.parametrize("name", ["default", "large"])
def test_a_presets_description_names_the_bundled_models_version(name):
    """``get_preset(name).description`` said "Model 3.0" for the bundled 3.4: it must name
    the version of the model card beside the files."""
    import re

    from attention_center.presets import get_preset

    preset = get_preset(name)
    card = json.loads((preset.directory / "metadata.json").read_text())
    named = re.match(r"Model (\d+(?:\.\d+)*)", preset.description)
    assert named, preset.description
    assert card["version"] in (named.group(1), named.group(1) + ".0"), (card["version"], named)


def test_a_preset_name_wins_over_a_file_of_that_name_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").write_text("not a model")
    (tmp_path / "mine").write_text("a file the user named")
    assert resolve_model("default") == ASSETS / "default_model" / "model.tflite"
    assert resolve_model("./default") == Path("./default")
    assert resolve_model("mine") == Path("mine")
