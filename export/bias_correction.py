"""Bias correction of an int8 model (``python -m export --int8_bias_correction``).

An int8 model's convolutions see rounded weights and rounded, clipped activations; the
errors do not average out to zero per output channel, and the shifted channel means
travel to the weighting map. The empirical bias correction of Nagel et al., "Data-Free
Quantization Through Weight Equalization and Bias Correction" (ICCV 2019; AIMET's
"empirical bias correction") puts them back: in the model's op order, each quantized
``CONV_2D``, ``DEPTHWISE_CONV_2D`` and ``FULLY_CONNECTED`` op gets, added to its float
bias, the float model's mean output per channel minus the int8 model's (dequantized),
both over the calibration frames, with every earlier op already corrected. Weights and
activation ranges do not change, so the int8 weights and the file's size are the same;
only the int32 biases move.

Measured on the bundled 3.4 weights (``runs/v42/PLAN.md``, docs/export.md): with
``--int8_ranges mse`` the mean int8-vs-float centre shift on 193 held-out photos is 0.66x
``minmax``'s without correction, and its largest 0.65x.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from attention_center.inference.tflite import make_interpreter
from export import flatbuffer
from export.errors import ExportError

#: The ops whose float bias the correction moves (their input 2).
CORRECTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def corrected_ops(model, denylisted: Iterable[str] = ()) -> list[tuple[int, str]]:
    """The ops of a calibrated model that int8 quantizes and that have a float bias.

    Args:
      model: the calibrated model's object tree (:func:`export.flatbuffer.read_model`).
      denylisted: output-tensor names of ops that stay in float32 (not corrected).
    Returns:
      ``(operator index, output tensor name)`` in the model's op order (a topological order).
    """
    denylisted = set(denylisted)
    subgraph = model.subgraphs[0]
    found = []
    for index, operator in enumerate(subgraph.operators):
        if flatbuffer._op_name(model, operator) not in CORRECTED_OPS:
            continue
        name = flatbuffer._decoded(subgraph.tensors[int(operator.outputs[0])].name)
        inputs = [int(t) for t in operator.inputs]
        if name in denylisted or len(inputs) < 3 or inputs[2] < 0:
            continue
        bias = subgraph.tensors[inputs[2]]
        if flatbuffer.tensor_type_name(bias.type) != "FLOAT32" or not _has_data(model, bias):
            continue
        found.append((index, name))
    return found


def _has_data(model, tensor) -> bool:
    data = model.buffers[tensor.buffer].data
    return data is not None and len(data) > 0


def channel_means(
    content: bytes, tensor_names: Sequence[str], frames: Iterable[np.ndarray]
) -> dict[str, np.ndarray]:
    """Each named tensor's mean per channel (its last axis) over ``frames``.

    Args:
      content: ``.tflite`` bytes, float or int8 (int8 tensors are dequantized with their
        scale and zero point).
      tensor_names: tensor names of ``content``.
      frames: ``float32 [H, W, 3]`` input frames.
    Returns:
      name -> ``float64 [channels]``.
    Raises:
      ExportError: a name is not a tensor of the model, or ``frames`` is empty.
    """
    interpreter = make_interpreter(content, runtime="litert", preserve_all_tensors=True)
    image = interpreter.get_input_details()[0]["index"]
    details = {d["name"]: d for d in interpreter.get_tensor_details()}
    missing = [name for name in tensor_names if name not in details]
    if missing:
        raise ExportError(f"bias correction: no tensor named {missing[:3]} in the model")
    sums = {name: 0.0 for name in tensor_names}
    count = 0
    for frame in frames:
        interpreter.set_tensor(image, np.asarray(frame, np.float32)[None])
        interpreter.invoke()
        count += 1
        for name in tensor_names:
            detail = details[name]
            values = interpreter.get_tensor(detail["index"]).astype(np.float64)
            if detail["dtype"] != np.float32:
                scale, zero_point = detail["quantization"]
                values = (values - zero_point) * scale
            sums[name] = sums[name] + values.reshape(-1, values.shape[-1]).mean(axis=0)
    if not count:
        raise ExportError("bias correction needs calibration frames; got none")
    return {name: total / count for name, total in sums.items()}


def with_bias_correction(
    calibrated: bytes,
    quantize: Callable[[bytes], bytes],
    frames: Sequence[np.ndarray],
    denylisted: Iterable[str] = (),
) -> bytes:
    """A calibrated model whose float biases make the int8 model's channel means the float's.

    Args:
      calibrated: the calibrated (float) model's bytes, with its activation ranges.
      quantize: calibrated bytes -> int8 bytes (the same quantization the export runs).
      frames: the calibration frames, ``float32 [H, W, 3]`` each (read once per op).
      denylisted: output-tensor names of the ops that stay in float32.
    Returns:
      The calibrated model's bytes with corrected biases (the same ranges and weights):
      quantize them for the corrected int8 model.
    """
    model = flatbuffer.read_model(calibrated)
    subgraph = model.subgraphs[0]
    ops = corrected_ops(model, denylisted)
    names = [name for _, name in ops]
    target = channel_means(calibrated, names, frames)
    owners: dict[int, int] = {}
    for tensor in subgraph.tensors:
        owners[tensor.buffer] = owners.get(tensor.buffer, 0) + 1
    for index, name in ops:
        quantized = quantize(flatbuffer.write_model(model))
        shift = channel_means(quantized, [name], frames)[name] - target[name]
        bias = subgraph.tensors[int(subgraph.operators[index].inputs[2])]
        values = np.frombuffer(bytes(model.buffers[bias.buffer].data), np.float32)
        if owners[bias.buffer] > 1:  # a bias buffer shared with another tensor: copy it
            model.buffers.append(type(model.buffers[bias.buffer])())
            bias.buffer = len(model.buffers) - 1
            owners[bias.buffer] = 1
        corrected = (values - shift).astype(np.float32)
        model.buffers[bias.buffer].data = np.frombuffer(corrected.tobytes(), np.uint8)
    return flatbuffer.write_model(model)
