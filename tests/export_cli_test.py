"""``python -m export`` end to end: a drop-in for Google's model, builtin ops, metadata.

One small model (MobileNetV2 alpha 0.35, random backbone, structured head so
that centres differ between photos) is exported once, float32, by the real
command in a subprocess; the tests then read the file as Google's
``encode_with_centers.py`` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip("TFLite export needs KERAS_BACKEND=tensorflow", allow_module_level=True)

from attention_center import build_model  # noqa: E402
from attention_center.image import load_image  # noqa: E402
from export.images import load_frames  # noqa: E402
from export.metadata import read_metadata, sidecar_path  # noqa: E402
from export.runtime import make_interpreter  # noqa: E402
from export.testing import give_structure  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: What a drop-in may contain: TFLite builtins used by our models (no Flex / custom ops).
ALLOWED_OPS = {"ADD", "CONV_2D", "DEPTHWISE_CONV_2D", "DIV", "FULLY_CONNECTED", "LOGISTIC", "MUL",
               "RESHAPE", "RESIZE_BILINEAR", "SUB", "SUM", "MEAN", "PAD", "CONCATENATION",
               "STRIDED_SLICE", "TRANSPOSE_CONV", "HARD_SWISH", "RELU", "RELU6", "QUANTIZE",
               "DEQUANTIZE", "AVERAGE_POOL_2D", "MAX_POOL_2D"}


def run_export(*args, env=None):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    environment.pop("KERAS_BACKEND", None)
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "export", "--progress=false", *args],
                          cwd=REPO, env=environment, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, kodak_paths):
    """``(tflite path, keras model at 240x320, completed process)``."""
    tmp = tmp_path_factory.mktemp("export_cli")
    keras.utils.set_random_seed(1)
    model = build_model("mobilenet_v2", input_shape=(240, 320, 3), alpha=0.35,
                        backbone_weights=None)
    _, frames = load_frames(kodak_paths[:6], (240, 320))
    give_structure(model, frames)
    model_path = tmp / "model.keras"
    model.save(model_path)
    out = tmp / "out" / "center.tflite"
    process = run_export(f"--model={model_path}", f"--out={out}", "--quantization=float32",
                         f"--parity_data={kodak_paths[0].parent}", "--num_parity=6")
    assert process.returncode == 0, process.stderr[-3000:]
    return out, model, process


def google_lite_predict(interpreter, image_tensor):
    """Google's ``encode_with_centers.py``: ``get_lite_map`` + ``lite_predict``, verbatim logic."""
    index_map = {m["name"]: m["index"] for m in interpreter.get_input_details()}
    interpreter.set_tensor(index_map["image:0"], image_tensor)
    interpreter.invoke()
    output_details = interpreter.get_output_details()
    return interpreter.get_tensor(output_details[0]["index"])


@pytest.mark.parametrize("runtime", ["litert", "tf"])
def test_google_script_lookup_finds_the_input_and_reads_the_centre(exported, kodak_paths, runtime):
    import tensorflow as tf

    path, model, _ = exported
    interpreter = make_interpreter(path, runtime=runtime)
    for image_path in (kodak_paths[2], kodak_paths[17]):  # landscape and portrait
        image = load_image(image_path).astype(np.float32)[None] / 255.0
        # As Google's script prepares it.
        tensor = tf.image.resize_with_pad(tf.constant(image), 480, 640, method="bicubic",
                                          antialias=True).numpy()
        center = google_lite_predict(interpreter, tensor)
        assert center.shape == (1, 2) and center.dtype == np.float32
        expected = model.predict(tf.image.resize(tensor, (240, 320)).numpy(),
                                 verbose=0)["center"][0] * 2.0 + 0.5
        # A 240x320 centre c maps to 2c + 0.5 in the 480x640 frame (pixel-centre coordinates).
        assert np.abs(center[0] - expected).max() < 1.0, (center, expected)


def test_interface_is_googles(exported):
    path, _, _ = exported
    interpreter = make_interpreter(path)
    inputs = interpreter.get_input_details()
    assert [(d["name"], list(d["shape"]), d["dtype"]) for d in inputs] == [
        ("image:0", [1, 480, 640, 3], np.float32)]
    outputs = interpreter.get_output_details()
    assert list(outputs[0]["shape"]) == [1, 2] and outputs[0]["dtype"] == np.float32
    assert outputs[0]["name"] == "center:0"


def test_builtin_ops_only(exported):
    from export.flatbuffer import non_builtin_ops, operator_counts

    content = exported[0].read_bytes()
    ops = operator_counts(content)
    print("ops:", ops)
    assert non_builtin_ops(content) == []
    assert set(ops) <= ALLOWED_OPS, set(ops) - ALLOWED_OPS
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SUM"} <= set(ops)


def test_metadata_is_embedded_and_beside(exported):
    path, _, process = exported
    meta = read_metadata(path)
    assert meta["input"]["name"] == "image:0"
    assert meta["input"]["shape"] == [1, 480, 640, 3]
    assert meta["input"]["range"] == [0.0, 1.0]
    assert meta["input"]["normalization_inside_model"] == "tf"
    assert meta["model"]["backbone"] == "mobilenet_v2" and meta["model"]["version"]
    assert meta["model"]["config"]["internal_hw"] == [240, 320]
    assert meta["quantization"]["mode"] == "float32"
    assert meta["parity"]["passed"] and meta["parity"]["num_images"] == 6
    assert "training_data" in meta and "metrics" in meta
    assert json.loads(sidecar_path(path).read_text()) == meta
    # The embedded copy alone is enough.
    sidecar_path(path).unlink()
    assert read_metadata(path) == meta
    assert "parity float32: max" in process.stdout and "PASS" in process.stdout
