"""Every quantization exports a builtin-only drop-in that passes parity on real photos.

One small model (MobileNetV2 alpha 0.35 built at 240x320, random backbone,
structured head) is exported at 480x640 through :class:`export.pipeline.Exporter`
(what ``python -m export`` runs) in float16, dynamic and int8 (float32:
``export_cli_test.py``), calibrated on 6 Kodak photos and checked on 6 others.
The parity figure (largest TFLite-vs-Keras centre distance) is printed for each.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip("TFLite export needs KERAS_BACKEND=tensorflow", allow_module_level=True)

from export_models import save_small_model  # noqa: E402

from attention_center.inference.tflite import (  # noqa: E402,E501
    google_centers,
    make_interpreter,
    ops_outside_delegates,
)
from export import converter, flatbuffer  # noqa: E402
from export.errors import ExportError  # noqa: E402
from export.images import load_frames  # noqa: E402
from export.parity import THRESHOLDS  # noqa: E402
from export.pipeline import Exporter  # noqa: E402

#: The gravity centre after the sigmoid, which int8 keeps in float (see export.converter).
#: The sigmoid that makes the weighting map and the gravity centre after it: float32 in int8
#: models (converter.FLOAT_SIGMOID; the centre of an int8 map was (0, 0) on flat images).
GRAVITY_TAIL_OPS = {"LOGISTIC", "RESHAPE", "SUM", "ADD", "DIV", "FULLY_CONNECTED"}


@pytest.fixture(scope="module")
def exporter(tmp_path_factory, kodak_paths):
    tmp = tmp_path_factory.mktemp("export_quantization")
    _, frames = load_frames(kodak_paths[:6], (240, 320))
    model = save_small_model(tmp / "model.keras", frames)
    with Exporter(
        tmp / "model.keras",
        representative_paths=kodak_paths[6:12],
        parity_paths=kodak_paths[:6],
        progress=False,
    ) as exporter:
        exporter.float32_bytes = 4 * model.count_params()
        yield exporter


@pytest.mark.parametrize("quantization", ["float16", "dynamic", "int8"])
def test_quantized_export_is_a_builtin_drop_in_within_parity(
    exporter, quantization, tmp_path, capsys
):
    result = exporter.export(quantization, tmp_path / f"center_{quantization}.tflite")
    with capsys.disabled():
        print(f"\n{result.parity.line()}; {result.size_bytes / 1e6:.2f} MB")
    assert result.parity.passed and result.parity.num_images == 6
    assert result.parity.threshold == THRESHOLDS[quantization]
    assert result.metadata["quantization"]["mode"] == quantization
    content = result.path.read_bytes()
    assert flatbuffer.non_builtin_ops(content) == []
    # Smaller than float32 weights (4 bytes x parameters): about half for float16, under a
    # half for 8-bit weights (small tensors, biases and the gravity grid stay float32).
    limit = 0.6 if quantization == "float16" else 0.45
    assert result.size_bytes < limit * exporter.float32_bytes, (
        result.size_bytes,
        exporter.float32_bytes,
    )

    interpreter = make_interpreter(result.path, runtime="litert")
    # ai-edge-litert applies XNNPACK; it takes every 1x1/3x3 convolution (the bulk of the
    # work) in every mode, and everything in float16. (It has no kernel for dynamic-range
    # depthwise convolutions, and may refuse an int8 ADD whose input scales are too far apart.)
    outside = ops_outside_delegates(interpreter)
    with capsys.disabled():
        print(f"{quantization}: ops outside XNNPACK: {outside or 'none'}")
    assert any(n["op_name"] == "DELEGATE" for n in interpreter._get_ops_details())
    assert "CONV_2D" not in outside
    if quantization == "float16":
        assert outside == []
    if quantization == "int8":
        assert "DEPTHWISE_CONV_2D" not in outside
    (image,) = interpreter.get_input_details()
    assert (image["name"], list(image["shape"]), image["dtype"]) == (
        "image:0",
        [1, 480, 640, 3],
        np.float32,
    )
    output = interpreter.get_output_details()[0]
    assert (list(output["shape"]), output["dtype"]) == ([1, 2], np.float32)
    # The centres are the Keras model's (within the threshold) on the parity photos.
    _, frames, expected = exporter.reference()
    got = google_centers(interpreter, frames)
    distances = np.linalg.norm(got - expected, axis=-1)
    assert distances.max() == pytest.approx(result.parity.max_px, abs=1e-3)
    assert np.sort(distances)[-1] >= result.parity.p95_px >= np.sort(distances)[-2] - 1e-6
    assert result.parity.p95_px == pytest.approx(np.percentile(distances, 95), abs=1e-3)
    spread = np.linalg.norm(expected[:, None] - expected[None], axis=-1).max()
    assert spread > 5 * result.parity.max_px + 10, "centres too alike for parity to mean much"


def _convolution_types(content: bytes) -> dict[str, set[str]]:
    """Output-tensor name -> the types of a convolution's input, weights and output."""
    model = flatbuffer.read_model(content)
    subgraph = model.subgraphs[0]
    return {
        flatbuffer._decoded(subgraph.tensors[op.outputs[0]].name): {
            flatbuffer.tensor_type_name(subgraph.tensors[i].type)
            for i in (op.inputs[0], op.inputs[1], op.outputs[0])
        }
        for op in subgraph.operators
        if flatbuffer._op_name(model, op) in ("CONV_2D", "DEPTHWISE_CONV_2D")
    }


def test_the_layers_up_to_p2_are_the_stem_and_the_first_blocks(exporter):
    names = [n.split("/", 1)[1] for n in exporter.float_layers]
    # MobileNetV2: the stem (Conv1), the first inverted residual (expanded_conv_*), then
    # block_1 and block_2 (stride 4, P2's tap block_2_add); nothing of block_3 on.
    assert {"Conv1", "expanded_conv_depthwise", "block_1_expand", "block_2_add"} <= set(names)
    assert not [n for n in names if n.startswith(("block_3", "block_4", "block_16"))]
    assert converter.backbone_layers_until(exporter.model, "P9") == []


def test_int8_is_full_integer_but_the_gravity_centre_and_the_first_blocks(exporter, tmp_path):
    result = exporter.export("int8", tmp_path / "center.tflite")
    content = result.path.read_bytes()
    assert result.metadata["quantization"]["float_layers_until"] == "P2"
    in_float = set(converter.layer_op_nodes(content, exporter.float_layers))
    types = _convolution_types(content)
    assert in_float & set(types) and set(types) - in_float
    for name, kinds in types.items():
        assert kinds == ({"FLOAT32"} if name in in_float else {"INT8"}), (name, kinds)
    # Input and output stay float32 (the interface is Google's).
    subgraph = flatbuffer.read_model(content).subgraphs[0]
    assert flatbuffer.tensor_type_name(subgraph.tensors[subgraph.inputs[0]].type) == "FLOAT32"
    assert flatbuffer.tensor_type_name(subgraph.tensors[subgraph.outputs[0]].type) == "FLOAT32"

    # --int8_float_until none: every convolution int8, only the gravity centre in float.
    everything = converter.convert_saved_model(
        exporter.saved_model(), "int8", exporter.representative_frames, exporter.outputs, []
    )
    assert set(flatbuffer.float_ops(everything)) <= GRAVITY_TAIL_OPS
    assert "LOGISTIC" in flatbuffer.float_ops(everything)  # the map itself, in float
    assert all(kinds == {"INT8"} for kinds in _convolution_types(everything).values())
    assert len(everything) < len(content)


def test_parity_above_the_threshold_fails_and_writes_nothing(exporter, tmp_path):
    out = tmp_path / "center.tflite"
    with pytest.raises(ExportError, match=r"parity dynamic: max .* FAIL.*not written"):
        exporter.export("dynamic", out, threshold=1e-7)
    assert list(tmp_path.iterdir()) == []


def _activation_scales(content: bytes) -> dict[str, float]:
    """Output-tensor name -> the int8 scale of each per-tensor int8 activation."""
    model = flatbuffer.read_model(content)
    subgraph = model.subgraphs[0]
    scales = {}
    for op in subgraph.operators:
        for index in op.outputs:
            tensor = subgraph.tensors[index]
            quantization = tensor.quantization
            if flatbuffer.tensor_type_name(tensor.type) != "INT8" or quantization is None:
                continue
            if quantization.scale is not None and len(quantization.scale) == 1:
                scales[flatbuffer._decoded(tensor.name)] = float(quantization.scale[0])
    return scales


def test_mse_ranges_narrow_activations_and_keep_a_drop_in(exporter, kodak_paths, tmp_path, capsys):
    minmax = exporter.convert("int8")
    with Exporter(
        exporter.model_path,
        representative_paths=kodak_paths[6:12],
        parity_paths=kodak_paths[:6],
        progress=False,
        int8_ranges="mse",
    ) as narrowed:
        result = narrowed.export("int8", tmp_path / "center.tflite")
    assert result.parity.passed and result.parity.threshold == THRESHOLDS["int8"]
    assert result.metadata["quantization"]["activation_ranges"] == "mse"
    content = result.path.read_bytes()
    assert flatbuffer.non_builtin_ops(content) == []
    # The same graph and ops in float; only the activations' scales change, never widening.
    assert set(flatbuffer.float_ops(content)) == set(flatbuffer.float_ops(minmax))
    before, after = _activation_scales(minmax), _activation_scales(content)
    assert set(after) == set(before) and len(after) > 10
    # (The random backbone's last projections are all but zero, scales near 1e-8, where the
    # quantizer's nudging of the zero point decides the scale: left out.)
    wider = {
        n: (before[n], after[n])
        for n in after
        if before[n] > 1e-6 and after[n] > before[n] * (1 + 1e-6)
    }
    assert not wider, wider
    assert sum(after[name] < 0.9 * before[name] for name in after) >= 3, (before, after)
    with capsys.disabled():
        print(f"\nmse ranges: {result.parity.line()}")
