"""Running a ``.tflite`` attention-centre model the way Google's script does.

Google's ``encode_with_centers.py`` finds the image input *by name* and reads
output 0::

    index_map = {m["name"]: m["index"] for m in interpreter.get_input_details()}
    interpreter.set_tensor(index_map["image:0"], image_tensor)   # [1, 480, 640, 3]
    interpreter.invoke()
    interpreter.get_tensor(interpreter.get_output_details()[0]["index"])  # [1, 2]

:func:`predict_center` does exactly that, so any model it runs is a drop-in
for Google's.

Runtimes: ``"litert"`` is ``ai_edge_litert.interpreter.Interpreter`` (the
supported one; XNNPACK by default), ``"tf"`` is TensorFlow's deprecated
``tf.lite.Interpreter`` (for side-by-side timings only).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

#: The input name Google's script looks up.
GOOGLE_INPUT_NAME = "image:0"
RUNTIMES = ("litert", "tf")


def make_interpreter(model, runtime: str = "litert", num_threads: int = 2):
    """An allocated interpreter for a model file or bytes.

    Args:
      model: a ``.tflite`` path or the model's bytes.
      runtime: ``"litert"`` (ai-edge-litert) or ``"tf"`` (tf.lite).
      num_threads: CPU threads (XNNPACK).
    """
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter
    elif runtime == "tf":
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    else:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if isinstance(model, (str, os.PathLike)):
        kwargs = {"model_path": os.fspath(model)}
    else:
        kwargs = {"model_content": bytes(model)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = Interpreter(num_threads=num_threads, **kwargs)
    interpreter.allocate_tensors()
    return interpreter


def google_input_index(interpreter) -> int:
    """The tensor index of input ``image:0``, found as Google's script finds it.

    Raises:
      KeyError: the model has no input of that name (not a drop-in).
    """
    index_map = {m["name"]: m["index"] for m in interpreter.get_input_details()}
    return index_map[GOOGLE_INPUT_NAME]


def predict_center(interpreter, frame: np.ndarray) -> np.ndarray:
    """One frame -> output 0, as Google's script computes it.

    Args:
      interpreter: from :func:`make_interpreter`.
      frame: ``float32 [H, W, 3]`` or ``[1, H, W, 3]``, RGB in [0, 1], resize-with-pad framed.
    Returns:
      ``float64 [2]``: (x, y) in pixels of the frame.
    """
    frame = np.asarray(frame, np.float32)
    if frame.ndim == 3:
        frame = frame[None]
    interpreter.set_tensor(google_input_index(interpreter), frame)
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    return np.asarray(output, np.float64).reshape(-1)[:2]


def predict_centers(interpreter, frames: np.ndarray) -> np.ndarray:
    """``float32 [N, H, W, 3]`` frames -> ``float64 [N, 2]`` (x, y) frame pixels."""
    return np.stack([predict_center(interpreter, frame) for frame in frames]) if len(frames) \
        else np.zeros((0, 2))


def ops_outside_delegates(interpreter) -> list[str]:
    """Names of the ops the interpreter runs itself, outside any delegate (XNNPACK).

    ``ai_edge_litert``'s interpreter applies XNNPACK by default: each partition
    of the graph that XNNPACK takes becomes one ``DELEGATE`` node; the rest run
    on TFLite's own kernels (slower; Google's model has hundreds of such ops
    there). The node list (``_get_ops_details``, a private but stable method of
    both interpreters) keeps the original ops too, so an op is taken to run
    outside when one of its outputs is a model output or an input of another
    op that runs outside or of a delegate, and no delegate produces it.

    Args:
      interpreter: an allocated interpreter (:func:`make_interpreter`).
    Returns:
      Op names, e.g. ``[]`` (all in XNNPACK) or ``["ADD", "DEPTHWISE_CONV_2D"]``,
      one entry per op, in node order.
    """
    nodes = interpreter._get_ops_details()
    delegates = [n for n in nodes if n["op_name"] == "DELEGATE"]
    ops = [n for n in nodes if n["op_name"] != "DELEGATE"]
    by_delegates = {int(t) for n in delegates for t in n["outputs"]}
    wanted = {int(t) for n in delegates for t in n["inputs"]}
    wanted |= {int(d["index"]) for d in interpreter.get_output_details()}
    wanted -= by_delegates
    outside: set[int] = set()
    changed = True
    while changed:
        changed = False
        for node in ops:
            if node["index"] in outside:
                continue
            if any(int(t) in wanted for t in node["outputs"]):
                outside.add(node["index"])
                wanted |= {int(t) for t in node["inputs"] if int(t) >= 0} - by_delegates
                changed = True
    return [n["op_name"] for n in ops if n["index"] in outside]
