"""Reading and editing a ``.tflite`` flatbuffer: op names, tensor names, metadata.

Uses the schema bindings that ship with ``ai-edge-litert``
(``ai_edge_litert.schema_py_generated``) and the ``flatbuffers`` package, so
reading a model's metadata needs no TensorFlow. Edits go through the schema's
object API (unpack -> change -> pack), the same way as TensorFlow's
``tensorflow/lite/tools/flatbuffer_utils.py``.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from attention_center.core.tflite_metadata import embedded_metadata_bytes
from export.errors import ExportError

_FILE_IDENTIFIER = b"TFL3"
_BUILTIN_NAMES = {
    value: name
    for name, value in vars(schema.BuiltinOperator).items()
    if not name.startswith("_") and isinstance(value, int)
}
_TENSOR_TYPE_NAMES = {
    value: name
    for name, value in vars(schema.TensorType).items()
    if not name.startswith("_") and isinstance(value, int)
}


def read_model(content: bytes) -> schema.ModelT:
    """``.tflite`` bytes -> the schema's mutable object tree (``ModelT``).

    Raises:
      ExportError: not a TFLite flatbuffer.
    """
    content = bytes(content)
    if len(content) < 8 or content[4:8] != _FILE_IDENTIFIER:
        raise ExportError("not a TFLite model (no 'TFL3' flatbuffer identifier)")
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(content, 0))
    for buffer in model.buffers or []:
        if buffer.offset:  # models over 2 GB keep their buffers after the flatbuffer
            buffer.data = np.frombuffer(
                content[buffer.offset : buffer.offset + buffer.size], np.uint8
            )
            buffer.offset = buffer.size = 0
    return model


def write_model(model: schema.ModelT) -> bytes:
    """The object tree back to ``.tflite`` bytes."""
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=_FILE_IDENTIFIER)
    return bytes(builder.Output())


def _op_name(model: schema.ModelT, operator) -> str:
    code = model.operatorCodes[operator.opcodeIndex]
    # builtinCode supersedes deprecatedBuiltinCode (an int8 field capped at 127).
    value = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    if value == schema.BuiltinOperator.CUSTOM:
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
        return f"CUSTOM:{custom}"
    return _BUILTIN_NAMES.get(value, f"UNKNOWN_{value}")


def operator_counts(content: bytes) -> dict[str, int]:
    """``{op name: count}`` over every subgraph, e.g. ``{"CONV_2D": 40, ...}``.

    Builtin ops by their schema name; custom ops (Flex/Select TF ops included,
    e.g. ``"CUSTOM:FlexEinsum"``) as ``"CUSTOM:<custom code>"``.
    """
    model = read_model(content)
    counts: collections.Counter = collections.Counter()
    for subgraph in model.subgraphs:
        for operator in subgraph.operators or []:
            counts[_op_name(model, operator)] += 1
    return dict(sorted(counts.items()))


def non_builtin_ops(content: bytes) -> list[str]:
    """Names of the ops that are not TFLite builtins (custom or Flex); empty is good."""
    return [name for name in operator_counts(content) if name.startswith(("CUSTOM", "UNKNOWN"))]


def float_ops(content: bytes) -> dict[str, int]:
    """``{op name: count}`` of the ops that compute in floating point.

    An op counts as float when one of its outputs is float32 or float16,
    except ``DEQUANTIZE`` (a conversion, not a computation). In a full-integer
    model this lists the parts left in float.
    """
    model = read_model(content)
    floats = (schema.TensorType.FLOAT32, schema.TensorType.FLOAT16)
    counts: collections.Counter = collections.Counter()
    for subgraph in model.subgraphs:
        for operator in subgraph.operators or []:
            name = _op_name(model, operator)
            if name == "DEQUANTIZE":
                continue
            outputs = [
                i for i in (operator.outputs if operator.outputs is not None else []) if i >= 0
            ]
            if any(subgraph.tensors[i].type in floats for i in outputs):
                counts[name] += 1
    return dict(sorted(counts.items()))


def tensor_type_name(type_code: int) -> str:
    """Schema tensor type code -> name, e.g. ``0`` -> ``"FLOAT32"``."""
    return _TENSOR_TYPE_NAMES.get(int(type_code), str(type_code))


def _decoded(name) -> str:
    return name.decode() if isinstance(name, bytes) else (name or "")


def set_interface(
    content: bytes,
    input_names: Sequence[str],
    output_order: Sequence[str],
    output_names: Sequence[str],
) -> bytes:
    """Renames the main subgraph's inputs and puts its outputs in a given order.

    Args:
      content: ``.tflite`` bytes with one signature.
      input_names: new tensor names of the inputs, in order (e.g. ``["image:0"]``).
      output_order: the signature's output keys in the wanted order (e.g.
        ``["center", "weight_map"]``); the subgraph's outputs are reordered to it.
      output_names: new tensor names for those outputs, same order.
    Returns:
      The edited model's bytes. Signature keys and all weights are unchanged.
    Raises:
      ExportError: the model does not have the expected inputs or outputs.
    """
    model = read_model(content)
    subgraph = model.subgraphs[0]
    inputs = list(subgraph.inputs)
    if len(inputs) != len(input_names):
        raise ExportError(
            f"the converted model has {len(inputs)} inputs, expected {len(input_names)}"
        )
    if not model.signatureDefs:
        raise ExportError("the converted model has no signature")
    signature = model.signatureDefs[0]
    by_key = {_decoded(m.name): m.tensorIndex for m in signature.outputs}
    missing = [key for key in output_order if key not in by_key]
    if missing:
        raise ExportError(
            f"the converted model has no output(s) {missing}; it has {sorted(by_key)}"
        )
    for index, name in zip(inputs, input_names):
        subgraph.tensors[index].name = name
    order = [by_key[key] for key in output_order]
    for index, name in zip(order, output_names):
        subgraph.tensors[index].name = name
    subgraph.outputs = np.asarray(
        order + [i for i in subgraph.outputs if i not in order], dtype=np.int32
    )
    return write_model(model)


def set_metadata(content: bytes, name: str, data: bytes) -> bytes:
    """Stores ``data`` as the model's metadata entry ``name`` (replacing one of that name).

    TFLite models carry a list of named metadata buffers (``Model.metadata``);
    interpreters ignore names they do not know.
    """
    model = read_model(content)
    model.metadata = [m for m in (model.metadata or []) if _decoded(m.name) != name]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(bytes(data), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    return write_model(model)


def get_metadata(content: bytes, name: str) -> bytes | None:
    """The bytes of metadata entry ``name``, or ``None`` when the model has none.

    (The reader lives in :mod:`attention_center.core.tflite_metadata`, so the model
    loader reads it without this package.)
    """
    try:
        return embedded_metadata_bytes(content, name)
    except ValueError as error:
        raise ExportError(str(error)) from error


def metadata_names(content: bytes) -> list[str]:
    """Names of the model's metadata entries (e.g. ``min_runtime_version``)."""
    root = schema.Model.GetRootAs(bytes(content), 0)
    return [_decoded(root.Metadata(i).Name()) for i in range(root.MetadataLength())]
