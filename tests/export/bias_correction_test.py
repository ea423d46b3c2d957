"""``--int8_bias_correction`` (:mod:`export.bias_correction`) on a small model and real photos.

The small model of ``export_quantization_test.py`` (MobileNetV2 alpha 0.35, random backbone,
structured head), calibrated on 6 Kodak photos. What the correction claims, measured with
the real TFLite quantizer and interpreter: each corrected op's int8 output has, per channel,
the float model's mean over the calibration frames (it did not before); the int8 weights
and activation ranges are untouched; the exported file stays a builtin drop-in that passes
parity and says in its metadata that it was corrected.
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

from export import converter, flatbuffer  # noqa: E402
from export.bias_correction import channel_means, corrected_ops, with_bias_correction  # noqa: E402
from export.errors import ExportError  # noqa: E402
from export.images import load_frames  # noqa: E402
from export.parity import THRESHOLDS  # noqa: E402
from export.pipeline import Exporter  # noqa: E402


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, kodak_paths):
    tmp = tmp_path_factory.mktemp("bias_correction")
    _, frames = load_frames(kodak_paths[:6], (240, 320))
    save_small_model(tmp / "model.keras", frames)
    return tmp / "model.keras"


@pytest.fixture(scope="module")
def calibration(small_model, kodak_paths):
    """``(calibrated bytes, quantize, frames, denylisted)`` as the int8 export makes them."""
    import tensorflow as tf

    with Exporter(small_model, representative_paths=kodak_paths[6:12], progress=False) as exporter:
        frames = list(exporter.representative_frames())
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter._converter(
                exporter.saved_model(), "int8", exporter.representative_frames
            )
        )
        calibrated = debugger.calibrated_model
        nodes = converter.center_tail_nodes(calibrated)
        nodes += converter.layer_op_nodes(calibrated, exporter.float_layers)
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes)

        def quantize(content: bytes) -> bytes:
            debugger.calibrated_model = content
            debugger.options = options
            return debugger.get_nondebug_quantized_model()

        yield calibrated, quantize, frames, nodes


def _int8_weights(content: bytes) -> dict[str, bytes]:
    """Constant INT8 tensors (the quantized weights) by name."""
    model = flatbuffer.read_model(content)
    found = {}
    for tensor in model.subgraphs[0].tensors:
        data = model.buffers[tensor.buffer].data
        if flatbuffer.tensor_type_name(tensor.type) == "INT8" and data is not None and len(data):
            found[flatbuffer._decoded(tensor.name)] = bytes(data)
    return found


def test_corrected_int8_outputs_keep_the_float_channel_means(calibration):
    calibrated, quantize, frames, nodes = calibration
    ops = [name for _, name in corrected_ops(flatbuffer.read_model(calibrated), nodes)]
    assert len(ops) >= 10 and not set(ops) & set(nodes)
    target = channel_means(calibrated, ops, frames)
    plain = quantize(calibrated)
    corrected = quantize(with_bias_correction(calibrated, quantize, frames, nodes))
    before = channel_means(plain, ops, frames)
    after = channel_means(corrected, ops, frames)

    def shift(means):  # mean |int8 - float| channel mean, over channels, per op
        return np.array([np.abs(means[n] - target[n]).mean() for n in ops])

    gap_before, gap_after = shift(before), shift(after)
    print(
        f"\nchannel-mean gap, int8 vs float, summed over {len(ops)} ops: "
        f"{gap_before.sum():.4g} -> {gap_after.sum():.4g}"
    )
    assert gap_before.sum() > 0  # int8 did shift the means
    assert gap_after.sum() < 0.3 * gap_before.sum(), (gap_before, gap_after)
    # No op is left worse off (fused ReLU6 clips make the correction inexact, not wrong).
    assert np.all(gap_after <= gap_before + 1e-3), (gap_before, gap_after)
    # Only biases moved: the int8 weights are the same bytes.
    assert _int8_weights(corrected) == _int8_weights(plain)


def test_bias_correction_export_is_a_drop_in_that_says_so(small_model, kodak_paths, tmp_path):
    with Exporter(
        small_model,
        representative_paths=kodak_paths[6:12],
        parity_paths=kodak_paths[:6],
        progress=False,
        int8_ranges="mse",
        int8_bias_correction=True,
    ) as exporter:
        result = exporter.export("int8", tmp_path / "center.tflite")
    assert result.parity.passed and result.parity.threshold == THRESHOLDS["int8"]
    assert result.metadata["quantization"]["bias_correction"] is True
    assert result.metadata["quantization"]["activation_ranges"] == "mse"
    content = result.path.read_bytes()
    assert flatbuffer.non_builtin_ops(content) == []


def test_channel_means_names_a_missing_tensor(calibration):
    calibrated, _, frames, _ = calibration
    with pytest.raises(ExportError, match="no tensor named"):
        channel_means(calibrated, ["no/such/tensor"], frames[:1])
    with pytest.raises(ExportError, match="needs calibration frames"):
        channel_means(calibrated, [], [])
