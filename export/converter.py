"""Keras attention-centre model -> TFLite bytes, at a fixed input size, builtin ops only.

The path that works under Keras 3 + TensorFlow 2.21 (the one
``keras.Model.export(format="litert")`` takes, without its Select-TF-ops
fallback): a SavedModel with one signature
``serving_default(image: float32 [1, H, W, 3]) -> {"center": [1, 2]}``, then
``tf.lite.TFLiteConverter.from_saved_model``, which freezes the variables
(``from_concrete_functions`` on a Keras 3 model keeps them as resource
variables, ``VAR_HANDLE``/``READ_VARIABLE``, with no values: NaN centres). The converted flatbuffer
is then edited so that it
is a drop-in for Google's model: the input tensor is named ``image:0`` and
output 0 is the centre (see :mod:`attention_center.inference.tflite`).

Quantizations (:data:`QUANTIZATIONS`):

* ``float32``: no quantization.
* ``float16``: float16 weights, float32 compute (``supported_types=[float16]``).
* ``dynamic``: int8 weights, activations quantized on the fly (dynamic range).
* ``int8``: full integer: int8 weights and activations calibrated on real
  photos, ``supported_ops=[TFLITE_BUILTINS_INT8]``; the input and output stay
  float32 (``inference_input_type`` / ``inference_output_type``), so the
  interface is unchanged. Activation ranges: TFLite's calibrated min/max, or with
  ``int8_ranges="mse"`` the ranges of least squared error (:mod:`export.ranges`); with
  ``int8_bias_correction=True`` each quantized op's bias is corrected so that its int8
  output keeps the float model's channel means (:mod:`export.bias_correction`).

Needs the TensorFlow backend (``KERAS_BACKEND=tensorflow``).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from attention_center.core.frames import MODEL_FRAME_HW
from attention_center.inference.tflite import GOOGLE_INPUT_NAME
from export import bias_correction, flatbuffer, ranges
from export.errors import ExportError, ExportUsageError

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
#: Output keys in TFLite output order, and the tensor names they get.
OUTPUT_KEYS = ("center", "weight_map")


def require_tensorflow_backend() -> None:
    """Raises :class:`ExportError` unless Keras runs on TensorFlow."""
    forced = os.environ.get("KERAS_BACKEND")
    if forced and forced != "tensorflow":
        raise ExportError(
            f"TFLite export needs the TensorFlow backend, but KERAS_BACKEND={forced}; "
            "unset it or set KERAS_BACKEND=tensorflow"
        )
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ExportError(
            f"TFLite export needs the TensorFlow backend; Keras runs on "
            f"{keras.backend.backend()!r} (set KERAS_BACKEND=tensorflow before "
            "importing keras)"
        )


def load_center_model(path: os.PathLike | str):
    """Loads a ``.keras`` attention-centre model and checks it has a centre output.

    Args:
      path: a ``.keras`` file (an :class:`~attention_center.AttentionCenterModel`
        or any Keras model whose output is a dict with ``"center": [B, 2]``).
    Returns:
      The ``keras.Model``.
    Raises:
      ExportUsageError: missing, not a regular file, not a ``.keras`` file, corrupt, or no
        ``"center"`` output (a usage error: exit 2).
    """
    require_tensorflow_backend()
    from attention_center.core.files import not_a_file_reason
    from attention_center.models import load_model

    path = Path(path)
    reason = not_a_file_reason(path)  # never opens a FIFO (it would block)
    if reason == "no such file":
        raise ExportUsageError(f"{path}: no such model file")
    if reason == "is a directory" or (reason is None and path.suffix != ".keras"):
        raise ExportUsageError(f"{path}: not a .keras model file")
    if reason is not None:
        raise ExportUsageError(f"{path}: {reason}")
    try:
        model = load_model(path)
    except Exception as error:  # zip, h5, json or deserialization errors: all mean "bad file"
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ExportUsageError(
            f"{path}: cannot load the Keras model ({type(error).__name__}: {message[:300]})"
        ) from error
    try:
        check_center_output(model, path)
    except ExportError as error:
        raise ExportUsageError(str(error)) from None
    return model


def check_center_output(model, name="model") -> None:
    """Raises :class:`ExportError` unless the model outputs ``{"center": [B, 2], ...}``."""
    outputs = getattr(model, "output", None)
    if not isinstance(outputs, dict) or "center" not in outputs:
        raise ExportError(
            f"{name}: the model has no 'center' output (expected a dict output "
            f"with 'center': [B, 2], got {_describe(outputs)})"
        )
    shape = tuple(outputs["center"].shape)
    if len(shape) != 2 or shape[-1] != 2:
        raise ExportError(f"{name}: the 'center' output has shape {shape}, expected (B, 2)")


def _describe(outputs) -> str:
    if isinstance(outputs, dict):
        return f"keys {sorted(outputs)}"
    if isinstance(outputs, (list, tuple)):
        return f"{len(outputs)} unnamed outputs"
    return f"one unnamed output of shape {tuple(getattr(outputs, 'shape', ()))}"


def fixed_size_model(model, input_hw: Sequence[int] = MODEL_FRAME_HW, internal_hw="model"):
    """The model at input ``(H, W, 3)``, rebuilt with the same weights if it was built at another.

    An :class:`~attention_center.AttentionCenterModel` is rebuilt from its
    config with ``input_shape=(H, W, 3)`` (its head and gravity centre are
    size-agnostic; the centre comes out in pixels of the new frame).

    Args:
      model: a Keras model with a ``"center"`` output.
      input_hw: ``(H, W)`` of the exported input (Google's: 480x640).
      internal_hw: the size the network works at inside the graph (the
        input is bilinearly resized to it first; see the model's
        ``internal_hw``): ``"model"`` (default) keeps the model's own working
        size, i.e. its ``internal_hw`` or else the input size it was built
        (trained) at, so a model trained at 240x320 sees objects at the scale
        it learned and runs 4x fewer pixels than at 480x640; ``None`` works at
        ``input_hw``; or an explicit ``(h, w)``.
    An :class:`~attention_center.AttentionCenterEnsemble` is rebuilt with
    ``with_input_shape`` (each member keeps its own working size; only
    ``internal_hw="model"``). Other models must accept ``input_hw`` as they are.
    """
    from attention_center.models.center_model import AttentionCenterModel
    from attention_center.models.saving import float32_model

    model = float32_model(model)  # trained under mixed_float16: TFLite converts float32 graphs
    height, width = (int(v) for v in input_hw)
    shape = tuple(model.input_shape[1:]) if hasattr(model, "input_shape") else ()
    if not isinstance(model, AttentionCenterModel):
        if len(shape) == 3 and all(a in (None, b) for a, b in zip(shape, (height, width, 3))):
            return model
        if hasattr(model, "with_input_shape") and internal_hw == "model":
            # An AttentionCenterEnsemble: each member keeps its own internal_hw.
            return model.with_input_shape((height, width, 3))
        raise ExportError(
            f"the model's input is {shape}, not {(height, width, 3)}, and it is not "
            "an AttentionCenterModel that can be rebuilt at another size"
        )
    config = model.get_config()
    if internal_hw == "model":
        internal_hw = config.get("internal_hw") or list(shape[:2])
    if internal_hw is not None:
        internal_hw = [int(v) for v in internal_hw]
        if internal_hw == [height, width]:
            internal_hw = None
    if "internal_hw" not in config and internal_hw is not None:
        raise ExportError(
            "this version of AttentionCenterModel has no internal_hw; export with internal_hw=None"
        )
    if "internal_hw" in config:
        config["internal_hw"] = internal_hw
    if shape == (height, width, 3) and config.get("internal_hw") == model.get_config().get(
        "internal_hw"
    ):
        return model
    config["input_shape"] = [height, width, 3]
    clone = type(model).from_config(config)
    clone.set_weights(model.get_weights())
    return clone


def write_saved_model(
    model,
    directory: os.PathLike | str,
    input_hw=MODEL_FRAME_HW,
    outputs: Sequence[str] = ("center",),
) -> Path:
    """Writes a SavedModel with one signature, ``serving_default``.

    Signature: input ``image``: ``float32 [1, H, W, 3]`` RGB in [0, 1];
    outputs the chosen keys of the model's output dict (``"center"``:
    ``[1, 2]`` (x, y) frame pixels; ``"weight_map"``: ``[1, h, w, 1]``).

    A ``tf.Module`` holding the model's variables and one ``tf.function``,
    saved with ``tf.saved_model.save``: the model is traced once or twice
    (``keras.export.ExportArchive`` traces it about eight times, 2-3x slower).
    """
    import tensorflow as tf

    require_tensorflow_backend()
    height, width = (int(v) for v in input_hw)
    unknown = [key for key in outputs if key not in model.output]
    if unknown:
        raise ExportError(f"the model has no output(s) {unknown}")

    @tf.function(input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32, name="image")])
    def serve(image):
        result = model(image, training=False)
        return {key: result[key] for key in outputs}

    module = tf.Module()
    module.model_variables = [getattr(v, "value", v) for v in model.variables]
    module.serve = serve
    directory = Path(directory)
    tf.saved_model.save(
        module, os.fspath(directory), signatures={"serving_default": serve.get_concrete_function()}
    )
    return directory


def _converter(
    saved_model_dir,
    quantization: str,
    representative_frames: Callable[[], Iterable[np.ndarray]] | None,
):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(os.fspath(saved_model_dir))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "float32":
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        if representative_frames is None:
            raise ExportError("int8 quantization needs representative frames (real photos)")

        def dataset():
            for frame in representative_frames():
                yield {"image": np.asarray(frame, np.float32)[None]}

        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    elif quantization != "dynamic":
        raise ExportError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    return converter


#: Ops before the sigmoid that also stay in float32 in int8 models (see
#: :func:`center_tail_nodes`): the head's last convolutions.
FLOAT_HEAD_OPS = 0
#: Whether the sigmoid itself stays in float32 in int8 models. TFLite's int8 sigmoid has a
#: fixed output step of 1/256: on a flat, dark or blurred image every cell of the map (about
#: 0.001 in float) rounds to 0, and the gravity centre of an all-zero map is (0, 0), the
#: top-left corner. In float the map keeps its shape and the centre is the float model's.
FLOAT_SIGMOID = True


def center_tail_nodes(
    content: bytes, stop_op: str = "LOGISTIC", head_ops: int = 0, include_stop: bool = False
) -> list[str]:
    """Output-tensor names of the ops from the weighting map to the ``center`` output.

    Walks back from the signature's ``center`` output through the ops that
    produce it until the ``stop_op`` (the sigmoid that makes the weighting
    map): the gravity centre's reshape, sum, normalization and coordinate
    contraction. With ``include_stop`` or ``head_ops > 0`` the sigmoid is included, and
    with ``head_ops > 0`` the ``head_ops`` ops before it on its input chain (the head's last
    convolutions) too.
    """
    model = flatbuffer.read_model(content)
    subgraph = model.subgraphs[0]
    outputs = {
        flatbuffer._decoded(m.name): int(m.tensorIndex) for m in model.signatureDefs[0].outputs
    }
    if "center" not in outputs:
        raise ExportError("the converted model has no 'center' output")
    producer = {int(t): op for op in subgraph.operators for t in op.outputs}
    names, stack, seen = [], [outputs["center"]], set()
    while stack:
        tensor = stack.pop()
        if tensor in seen or tensor not in producer:
            continue
        seen.add(tensor)
        operator = producer[tensor]
        if flatbuffer._op_name(model, operator) == stop_op:
            for _ in range(head_ops + 1 if head_ops > 0 or include_stop else 0):
                names += [
                    flatbuffer._decoded(subgraph.tensors[int(t)].name) for t in operator.outputs
                ]
                data_input = int(operator.inputs[0])
                if data_input not in producer:
                    break
                operator = producer[data_input]
            continue
        names += [flatbuffer._decoded(subgraph.tensors[int(t)].name) for t in operator.outputs]
        stack += [int(t) for t in operator.inputs if t >= 0]
    return names


#: The default of ``float_until``: the backbone's layers up to its P2 tap (the stem and the
#: stride-2 and stride-4 blocks) stay in float32 in int8 models.
DEFAULT_FLOAT_UNTIL = "P2"


def backbone_layers_until(model, level: str = DEFAULT_FLOAT_UNTIL) -> list[str]:
    """The backbone layers that compute pyramid level ``level`` and come before it.

    Finds every sub-model with ``pyramid_outputs`` (a backbone of
    :func:`attention_center.backbones.build_backbone`; an ensemble has several), then in its
    feature network the layer that outputs ``level`` and every layer before it in the
    network's (topological) order: for the registered backbones, the stem and the blocks up
    to that tap.

    Returns:
      ``"<feature network>/<layer>"`` names (empty when the model has no such backbone or
      level), as :func:`layer_op_nodes` takes them.
    """
    names: list[str] = []
    for backbone in _layers_with_pyramid(model):
        tensor = backbone.pyramid_outputs.get(level)
        if tensor is None:
            continue
        features = tensor._keras_history.operation
        outputs = features.output
        tap = outputs[level] if isinstance(outputs, dict) else None
        if tap is None:
            continue
        tap_layer = tap._keras_history.operation
        layers = list(features.layers)
        before = layers[: layers.index(tap_layer) + 1]
        names += [f"{features.name}/{layer.name}" for layer in before]
    return list(dict.fromkeys(names))


def _layers_with_pyramid(layer) -> list:
    found = [layer] if getattr(layer, "pyramid_outputs", None) else []
    for child in getattr(layer, "layers", []) or []:
        if child is not layer:
            found += _layers_with_pyramid(child)
    return found


def pyramid_levels(model) -> list[str]:
    """The pyramid levels ``float_until`` may name for ``model``: every level its backbones
    have (their registered taps, :mod:`attention_center.backbones.catalog`, and the levels
    they output), ``P2`` first; empty when the model has no backbone of
    :func:`attention_center.backbones.build_backbone` (then nothing stays in float)."""
    from attention_center.backbones import get_backbone_spec

    levels = set()
    for backbone in _layers_with_pyramid(model):
        levels.update(backbone.pyramid_outputs)
        name = backbone.name[: -len("_backbone")] if backbone.name.endswith("_backbone") else ""
        try:
            levels.update(get_backbone_spec(name).taps)
        except (KeyError, ValueError):
            pass  # not a registered backbone: the levels it outputs
    return sorted(levels, key=lambda level: (len(level), level))


def layer_op_nodes(content: bytes, layer_names: Sequence[str]) -> list[str]:
    """Output-tensor names of the ops a converted model computes in the named Keras layers.

    Args:
      content: ``.tflite`` bytes (converted from a SavedModel of :func:`write_saved_model`).
      layer_names: ``"<model>/<layer>"`` names (:func:`backbone_layers_until`).

    An op belongs to ``model/layer`` when two consecutive components of its output
    tensor's name (TensorFlow's name scopes:
    ``.../efficientnet_lite0_compact_features_1/block2b_activation_1/Relu6``) are the two
    names, each possibly followed by ``_<n>`` (the scope of a repeated call). Fused ops
    are named for every op they fuse (``;``-separated); the first is read.
    """
    if not layer_names:
        return []
    wanted = {tuple(name.split("/", 1)) for name in layer_names}

    def bare(scope: str) -> str:
        return re.sub(r"_\d+$", "", scope)

    model = flatbuffer.read_model(content)
    subgraph = model.subgraphs[0]
    names = []
    for operator in subgraph.operators:
        for t in operator.outputs:
            name = flatbuffer._decoded(subgraph.tensors[int(t)].name)
            scopes = name.split(";")[0].split("/")[:-1]
            pairs = zip(scopes, scopes[1:])
            if any((x, y) in wanted for a, b in pairs for x in {a, bare(a)} for y in {b, bare(b)}):
                names.append(name)
    return names


def _quantize_int8_keeping_center_float(
    converter,
    float_layers: Sequence[str] = (),
    int8_ranges: str = "minmax",
    representative_frames: Callable[[], Iterable[np.ndarray]] | None = None,
    int8_bias_correction: bool = False,
) -> bytes:
    """Full-integer quantization with the gravity centre (and ``float_layers``) in float32.

    Quantized to int8, the gravity centre fails: the sum of a 120x160
    weighting map saturates its int8 range and the normalized weights
    (about 5e-5 each) keep a few levels only (measured: the centre moves by
    hundreds of pixels). So the model is calibrated once, and quantized with
    the ops after the sigmoid (:func:`center_tail_nodes`) denylisted, through
    TensorFlow's selective quantization
    (``tf.lite.experimental.QuantizationDebugger``). Those ops (RESHAPE, SUM,
    ADD, DIV, FULLY_CONNECTED on 19200 values) cost next to nothing in float.

    ``float_layers`` (Keras layer names, :func:`backbone_layers_until`) are denylisted
    too: TFLite's quantization debugger ranks the stem and the first blocks of
    EfficientNet-Lite0 worst by far (RMSE over scale 2.6-2.8 for the stem and block 1a's
    depthwise convolution; the next layer 0.58); kept in float they halve the int8
    model's centre shifts (docs/export.md) for 30 KB and no measurable latency.

    ``int8_ranges`` (:data:`export.ranges.RANGES`): ``"minmax"`` quantizes each activation
    over the min/max TFLite calibrated; ``"mse"`` first narrows each range to the one of
    least squared error over ``representative_frames`` (:func:`export.ranges.with_mse_ranges`).

    ``int8_bias_correction``: after the ranges, each quantized op's float bias is corrected
    so that the int8 model's output keeps the float model's mean per channel over
    ``representative_frames`` (:func:`export.bias_correction.with_bias_correction`; one
    quantization and one pass over the frames per corrected op).
    """
    import tensorflow as tf

    # Constructing the debugger calibrates the model on the representative frames.
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter)
    calibrated = debugger.calibrated_model
    nodes = center_tail_nodes(calibrated, head_ops=FLOAT_HEAD_OPS, include_stop=FLOAT_SIGMOID)
    nodes += layer_op_nodes(calibrated, float_layers)
    frames = representative_frames
    if int8_bias_correction:  # it reads the frames once per corrected op: decode them once
        decoded = list(representative_frames())
        frames = lambda: decoded  # noqa: E731
    if int8_ranges == "mse":
        calibrated = ranges.with_mse_ranges(calibrated, frames)
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes)

    def quantize(calibrated_model: bytes) -> bytes:
        debugger.calibrated_model = calibrated_model
        debugger.options = options
        return debugger.get_nondebug_quantized_model()

    if int8_bias_correction:
        calibrated = bias_correction.with_bias_correction(calibrated, quantize, decoded, nodes)
    return quantize(calibrated)


def convert_saved_model(
    saved_model_dir,
    quantization: str = "int8",
    representative_frames: Callable[[], Iterable[np.ndarray]] | None = None,
    outputs: Sequence[str] = ("center",),
    float_layers: Sequence[str] = (),
    int8_ranges: str = "minmax",
    int8_bias_correction: bool = False,
) -> bytes:
    """A SavedModel from :func:`write_saved_model` -> drop-in ``.tflite`` bytes.

    Args:
      saved_model_dir: the SavedModel.
      quantization: one of :data:`QUANTIZATIONS`.
      representative_frames: for ``int8``: a callable returning an iterable of
        ``float32 [H, W, 3]`` frames (RGB [0, 1], resize-with-pad framed).
      outputs: the signature's output keys, in the order wanted in the file
        (output 0 must be ``"center"`` for Google's script).
      float_layers: for ``int8``: Keras layers whose ops stay in float32
        (:func:`backbone_layers_until`); the gravity centre always does.
      int8_ranges: for ``int8``: the activation ranges, ``"minmax"`` (TFLite's
        calibration) or ``"mse"`` (:mod:`export.ranges`).
      int8_bias_correction: for ``int8``: correct the biases for the int8 model's channel
        means (:mod:`export.bias_correction`).
    Returns:
      The model's bytes: input ``image:0`` ``float32 [1, H, W, 3]``; output 0
      ``center:0`` ``float32 [1, 2]``; then ``weight_map:0`` if asked for.
    Raises:
      ExportError: conversion failed or left non-builtin ops.
    """
    if quantization == "int8":
        ranges.check_ranges(int8_ranges)
    converter = _converter(saved_model_dir, quantization, representative_frames)
    try:
        if quantization == "int8":
            content = _quantize_int8_keeping_center_float(
                converter, float_layers, int8_ranges, representative_frames, int8_bias_correction
            )
        else:
            content = converter.convert()
    except ExportError:
        raise
    except Exception as error:
        raise ExportError(
            f"TFLite conversion ({quantization}) failed: "
            f"{type(error).__name__}: {str(error)[:2000]}"
        ) from error
    content = flatbuffer.set_interface(
        content, [GOOGLE_INPUT_NAME], list(outputs), [f"{key}:0" for key in outputs]
    )
    extra = flatbuffer.non_builtin_ops(content)
    if extra:
        raise ExportError(f"the {quantization} model needs non-builtin ops {extra}")
    return content


def convert_model(
    model,
    quantization: str = "int8",
    input_hw=MODEL_FRAME_HW,
    representative_frames=None,
    outputs: Sequence[str] = ("center",),
    saved_model_dir: os.PathLike | str | None = None,
    internal_hw="model",
    float_until: str | None = DEFAULT_FLOAT_UNTIL,
    int8_ranges: str = "minmax",
    int8_bias_correction: bool = False,
) -> bytes:
    """A Keras model -> drop-in ``.tflite`` bytes (see :func:`convert_saved_model`).

    Rebuilds the model at ``input_hw`` if needed (:func:`fixed_size_model`,
    with ``internal_hw``); the SavedModel goes to a temporary folder unless
    ``saved_model_dir`` is given. For ``int8``, the backbone's layers up to pyramid level
    ``float_until`` stay in float32 (:func:`backbone_layers_until`; ``None``: none), and
    ``int8_ranges`` chooses the activation ranges (:mod:`export.ranges`) and
    ``int8_bias_correction`` corrects the biases (:mod:`export.bias_correction`).
    """
    model = fixed_size_model(model, input_hw, internal_hw)
    float_layers = backbone_layers_until(model, float_until) if float_until else []
    with contextlib.ExitStack() as stack:
        if saved_model_dir is None:
            saved_model_dir = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="attention_center_export_")
            )
        write_saved_model(model, saved_model_dir, input_hw, outputs)
        return convert_saved_model(
            saved_model_dir,
            quantization,
            representative_frames,
            outputs,
            float_layers,
            int8_ranges,
            int8_bias_correction,
        )
