"""``python -m export`` end to end: a drop-in for Google's model, builtin ops, XNNPACK, metadata.

One small model (MobileNetV2 alpha 0.35 built at 240x320, random backbone,
structured head so that centres differ between photos; saved in a fake
training run folder) is exported once, float32, at 480x640, by the real
command in a subprocess; the tests then read the file as Google's
``encode_with_centers.py`` does, compare its interface with Google's model,
and read its metadata back through the model loader. The other quantizations:
``export_quantization_test.py``; bad input: ``export_errors_test.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip("TFLite export needs KERAS_BACKEND=tensorflow", allow_module_level=True)

from conftest import REPO  # noqa: E402
from export_models import save_small_model  # noqa: E402

from attention_center.core.images import load_image  # noqa: E402
from attention_center.inference.predictors import load_predictor  # noqa: E402
from attention_center.inference.tflite import make_interpreter, ops_outside_delegates  # noqa: E402
from export.images import load_frames  # noqa: E402
from export.metadata import read_metadata, sidecar_path  # noqa: E402

#: What a drop-in may contain: TFLite builtins used by our models (no Flex / custom ops).
ALLOWED_OPS = {
    "ADD",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "DIV",
    "FULLY_CONNECTED",
    "LOGISTIC",
    "MUL",
    "RESHAPE",
    "RESIZE_BILINEAR",
    "SUB",
    "SUM",
    "MEAN",
    "PAD",
    "CONCATENATION",
    "STRIDED_SLICE",
    "TRANSPOSE_CONV",
    "HARD_SWISH",
    "RELU",
    "RELU6",
    "QUANTIZE",
    "DEQUANTIZE",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
}


def run_export(*args, env=None):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    environment.pop("KERAS_BACKEND", None)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "export", "--progress=false", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory, kodak_paths):
    """``(tflite path, keras model at 240x320, completed process, SavedModel folder)``."""
    tmp = tmp_path_factory.mktemp("export_cli")
    run = tmp / "run"
    run.mkdir()
    _, frames = load_frames(kodak_paths[:6], (240, 320))
    model = save_small_model(run / "best_finetune.keras", frames)
    # What the trainer leaves beside its checkpoints: the metadata's training data and metrics.
    (run / "config.json").write_text(
        json.dumps(
            {"data_dir": "/data/gt", "sources": ["osie_eye", "scene_eye"], "input_hw": [240, 320]}
        )
    )
    (run / "history.jsonl").write_text(
        '{"phase": "warmup", "epoch": 0, "val_center_error": 0.12}\n'
        '{"phase": "finetune", "epoch": 0, "val_center_error": 0.104}\n'
        '{"phase": "finetune", "epoch": 1, "val_center_error": 0.107}\n'
    )
    out = tmp / "out" / "center.tflite"
    saved_model = tmp / "saved_model"
    process = run_export(
        f"--model={run / 'best_finetune.keras'}",
        f"--out={out}",
        "--quantization=float32",
        f"--saved_model={saved_model}",
        f"--parity_data={kodak_paths[0].parent}",
        "--num_parity=6",
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return out, model, process, saved_model


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

    path, model, *_ = exported
    interpreter = make_interpreter(path, runtime=runtime)
    for image_path in (kodak_paths[2], kodak_paths[17]):  # landscape and portrait
        image = load_image(image_path).astype(np.float32)[None] / 255.0
        # As Google's script prepares it.
        tensor = tf.image.resize_with_pad(
            tf.constant(image), 480, 640, method="bicubic", antialias=True
        ).numpy()
        center = google_lite_predict(interpreter, tensor)
        assert center.shape == (1, 2) and center.dtype == np.float32
        expected = (
            model.predict(tf.image.resize(tensor, (240, 320)).numpy(), verbose=0)["center"][0] * 2.0
            + 0.5
        )
        # A 240x320 centre c maps to 2c + 0.5 in the 480x640 frame (pixel-centre coordinates).
        assert np.abs(center[0] - expected).max() < 1.0, (center, expected)


def test_interface_is_googles(exported):
    path = exported[0]
    interpreter = make_interpreter(path)
    inputs = interpreter.get_input_details()
    assert [(d["name"], list(d["shape"]), d["dtype"]) for d in inputs] == [
        ("image:0", [1, 480, 640, 3], np.float32)
    ]
    outputs = interpreter.get_output_details()
    assert list(outputs[0]["shape"]) == [1, 2] and outputs[0]["dtype"] == np.float32
    assert outputs[0]["name"] == "center:0"


def _image_input_and_output0(path):
    interpreter = make_interpreter(path)
    by_name = {d["name"]: d for d in interpreter.get_input_details()}
    image = by_name["image:0"]  # KeyError: not findable as Google's script finds it
    output = interpreter.get_output_details()[0]
    return ((list(image["shape"]), image["dtype"]), (list(output["shape"]), output["dtype"]))


def test_interface_matches_googles_model(exported, google_model_path, kodak_paths):
    """Same lookup on both files gives the same input and output 0; both centres in the frame."""
    import tensorflow as tf

    ours = _image_input_and_output0(exported[0])
    google = _image_input_and_output0(google_model_path)
    assert ours == google == (([1, 480, 640, 3], np.float32), ([1, 2], np.float32))
    image = load_image(kodak_paths[4]).astype(np.float32)[None] / 255.0
    tensor = tf.image.resize_with_pad(
        tf.constant(image), 480, 640, method="bicubic", antialias=True
    ).numpy()
    for path, runtime in ((exported[0], "litert"), (google_model_path, "tf")):
        center = google_lite_predict(make_interpreter(path, runtime=runtime), tensor)[0]
        assert 0 <= center[0] <= 639 and 0 <= center[1] <= 479, (path, center)


def test_whole_graph_runs_in_xnnpack(exported):
    """ai-edge-litert applies XNNPACK and it takes every op: one delegate node, image -> centre."""
    interpreter = make_interpreter(exported[0], runtime="litert")
    nodes = interpreter._get_ops_details()  # the graph's nodes, delegate kernels included
    delegates = [n for n in nodes if n["op_name"] == "DELEGATE"]
    assert len(delegates) == 1, [n["op_name"] for n in nodes]
    image = interpreter.get_input_details()[0]["index"]
    center = interpreter.get_output_details()[0]["index"]
    assert image in delegates[0]["inputs"] and center in delegates[0]["outputs"]
    assert ops_outside_delegates(interpreter) == []


def test_saved_model_written_on_request(exported):
    saved_model = exported[3]
    assert (saved_model / "saved_model.pb").is_file() and (saved_model / "variables").is_dir()
    assert f"wrote SavedModel {saved_model}" in exported[2].stdout


def test_builtin_ops_only(exported):
    from export.flatbuffer import non_builtin_ops, operator_counts

    content = exported[0].read_bytes()
    ops = operator_counts(content)
    print("ops:", ops)
    assert non_builtin_ops(content) == []
    assert set(ops) <= ALLOWED_OPS, set(ops) - ALLOWED_OPS
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SUM"} <= set(ops)


def test_metadata_is_embedded_and_beside_and_the_loader_reads_it(exported):
    path, _, process, _ = exported
    meta = read_metadata(path)
    assert meta["input"]["name"] == "image:0"
    assert meta["input"]["shape"] == [1, 480, 640, 3]
    assert meta["input"]["range"] == [0.0, 1.0]
    assert meta["input"]["normalization_inside_model"] == "tf"
    assert meta["input"]["normalization_meaning"].startswith("2x - 1")
    assert meta["input"]["internal_hw"] == [240, 320]
    assert meta["model"]["backbone"] == "mobilenet_v2"
    assert "best_finetune.keras" in meta["model"]["version"]
    assert meta["model"]["config"]["internal_hw"] == [240, 320]
    assert meta["quantization"]["mode"] == "float32"
    assert meta["parity"]["passed"] and meta["parity"]["num_images"] == 6
    # From the run folder: sources, and the best val error of the checkpoint's phase.
    assert meta["training_data"]["sources"] == ["osie_eye", "scene_eye"]
    assert meta["metrics"]["val_center_error"] == pytest.approx(0.104)
    assert json.loads(sidecar_path(path).read_text()) == meta
    # The model loader (as evaluate / predict / encode use it) reads the same.
    predictor = load_predictor(path)
    assert predictor.metadata == meta and predictor.frame_hw == (480, 640)
    # The embedded copy alone is enough.
    sidecar_path(path).unlink()
    assert read_metadata(path) == meta
    assert load_predictor(path).metadata == meta
    assert "parity float32: max" in process.stdout and "PASS" in process.stdout
