"""``import attention_center`` then Keras's own ``keras.saving.load_model``, in a fresh process.

Two ``.keras`` files hold every class we register: a functional model built from the layers
(ResizeTo, ImageNormalization, AttentionCenterHead, GravityCenter), compiled with our losses
and metric (CenterL2Loss, SaliencyLoss, NormalizedCenterError), and an ensemble
(AttentionCenterEnsemble of two AttentionCenterModel). A fresh interpreter loads both with
``keras.saving.load_model`` after importing the package in three orders (the package first,
Keras first, Keras pulled in by one of our own modules) and must give the same outputs on real
Kodak frames; it also checks the compiled losses came back as our classes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import REPO
from export_models import give_structure

import attention_center as ac
from attention_center.core.images import load_image, resize_with_pad
from attention_center.losses import CenterL2Loss, NormalizedCenterError, SaliencyLoss

FRAME_HW = (96, 128)

_LOAD = """
import sys
import numpy as np
frames_path, out_path, *model_paths = sys.argv[1:]
{imports}
frames = np.load(frames_path)
outputs = {{}}
for i, path in enumerate(model_paths):
    model = keras.saving.load_model(path, compile=True)
    for key, value in model.predict(frames, verbose=0).items():
        outputs[f"{{i}}/{{key}}"] = np.asarray(value)
    if i == 0:
        losses = model.loss if isinstance(model.loss, dict) else {{}}
        print(sorted(type(loss).__name__ for loss in losses.values()))
np.savez(out_path, **outputs)
"""

IMPORT_ORDERS = {
    "package first": "import attention_center\nimport keras",
    "keras first": "import keras\nimport attention_center",
    "keras pulled in by our layer": "import attention_center as ac\nac.GravityCenter\nimport keras",
}


def _layers_model() -> keras.Model:
    image = keras.Input((*FRAME_HW, 3), name="image")
    small = ac.ResizeTo(FRAME_HW[0] // 2, FRAME_HW[1] // 2)(image)
    normalized = ac.ImageNormalization(mode="tf")(small)
    fine = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(normalized)
    coarse = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(fine)
    weight_map = ac.AttentionCenterHead(width=8, name="center_head")([fine, coarse])
    center = ac.GravityCenter(stride=4, name="center")([weight_map, image])
    model = keras.Model(image, {"center": center, "weight_map": weight_map})
    model.compile(
        optimizer="adam",
        loss={"center": CenterL2Loss(frame_hw=FRAME_HW), "weight_map": SaliencyLoss()},
        metrics={"center": [NormalizedCenterError(frame_hw=FRAME_HW)]},
    )
    return model


def _ensemble(frames: np.ndarray) -> keras.Model:
    members = []
    for seed in (3, 4):
        keras.utils.set_random_seed(seed)
        members.append(
            ac.build_model(
                "mobilenet_v2",
                input_shape=(*FRAME_HW, 3),
                alpha=0.35,
                backbone_weights=None,
                head_width=8,
            )
        )
        give_structure(members[-1], frames)  # maps and centres that differ between frames
    return ac.AttentionCenterEnsemble.from_models(members, input_shape=(*FRAME_HW, 3))


@pytest.fixture(scope="module")
def saved(kodak_paths, tmp_path_factory):
    """``(frames .npy, [model paths], {output name: array})`` of the two saved models."""
    folder = tmp_path_factory.mktemp("keras_reload")
    frames = np.stack([resize_with_pad(load_image(p), FRAME_HW)[0] for p in kodak_paths[:3]])
    np.save(folder / "frames.npy", frames)
    keras.utils.set_random_seed(1)
    expected, paths = {}, []
    for i, model in enumerate((_layers_model(), _ensemble(frames))):
        path = folder / f"model{i}.keras"
        model.save(path)
        paths.append(path)
        for key, value in model.predict(frames, verbose=0).items():
            expected[f"{i}/{key}"] = np.asarray(value)
    return folder / "frames.npy", paths, expected


@pytest.mark.parametrize("order", sorted(IMPORT_ORDERS))
def test_keras_load_model_after_importing_the_package(saved, order, tmp_path):
    frames_path, paths, expected = saved
    imports = IMPORT_ORDERS[order]
    out = tmp_path / "outputs.npz"
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            _LOAD.format(imports=imports),
            frames_path,
            out,
            *paths,
        ],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert process.stdout.strip().splitlines()[-1] == "['CenterL2Loss', 'SaliencyLoss']"
    got = np.load(out)
    assert sorted(got.files) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5, err_msg=key)
    # Outputs that differ between frames by far more than the tolerance:
    assert np.ptp(expected["0/weight_map"], axis=0).max() > 1e-2
    assert np.ptp(expected["1/center"], axis=0).max() > 1.0


def test_importing_the_package_loads_no_keras_until_keras_is_imported():
    """The light import stays light: the finder waits, and registers once Keras comes."""
    code = (
        "import json, sys, attention_center\n"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules\n"
        "assert 'attention_center.layers' not in sys.modules\n"
        "import keras\n"
        "names = [k for k in keras.saving.get_custom_objects() if k.startswith('attention_')]\n"
        "print(json.dumps(sorted(names)))\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    registered = json.loads(process.stdout.strip().splitlines()[-1])
    assert registered == sorted(
        f"attention_center>{name}"
        for name in (
            "AttentionCenterEnsemble",
            "AttentionCenterHead",
            "AttentionCenterModel",
            "CenterL2Loss",
            "GravityCenter",
            "ImageNormalization",
            "NormalizedCenterError",
            "ResizeTo",
            "SaliencyLoss",
        )
    )
