"""The one TFLite runner of the project: load a ``.tflite`` model, feed frames, read centres.

Runtimes (:data:`RUNTIMES`): ``"litert"`` is ``ai_edge_litert.interpreter.Interpreter``
(the supported one, a base dependency; XNNPACK by default), ``"tf"`` is TensorFlow's
deprecated ``tf.lite.Interpreter``; ``"auto"`` takes ai-edge-litert and falls back to
``tf.lite`` where it is missing. Neither Keras nor TensorFlow is imported unless
``runtime="tf"`` (or ``"auto"`` without ai-edge-litert).

A model with Google's interface has a float32 ``[1, H, W, 3]`` RGB input in [0, 1] whose
name contains ``image`` (Google's ``image:0``; any other input, such as Google's unused
string ``filename:0``, is left alone), a ``[1, 2]`` output (x, y) in frame pixels, and
optionally a ``[1, h, w, 1]`` weighting map. :class:`TFLiteModel` finds them by name and
shape; :func:`google_center` reads a model exactly as Google's ``encode_with_centers.py``
does (input found by the name ``image:0``, output 0), which is what a drop-in must satisfy::

    index_map = {m["name"]: m["index"] for m in interpreter.get_input_details()}
    interpreter.set_tensor(index_map["image:0"], image_tensor)   # [1, 480, 640, 3]
    interpreter.invoke()
    interpreter.get_tensor(interpreter.get_output_details()[0]["index"])  # [1, 2]
"""

from __future__ import annotations

import contextlib
import numbers
import os
import sys
import tempfile
import warnings
from typing import Optional

import numpy as np

__all__ = [
    "GOOGLE_INPUT_NAME",
    "RUNTIMES",
    "TFLiteModel",
    "TFLiteInterfaceError",
    "check_num_threads",
    "google_center",
    "google_centers",
    "google_input_index",
    "make_interpreter",
    "ops_outside_delegates",
]

#: The input name Google's script looks up.
GOOGLE_INPUT_NAME = "image:0"
RUNTIMES = ("auto", "litert", "tf")


class TFLiteInterfaceError(ValueError):
    """The model file cannot be loaded, or its inputs/outputs are not image -> centre."""


def _interpreter_class(runtime: str):
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if runtime in ("auto", "litert"):
        try:
            from ai_edge_litert.interpreter import Interpreter

            return Interpreter
        except ImportError:
            if runtime == "litert":
                raise
    import tensorflow as tf

    return tf.lite.Interpreter


@contextlib.contextmanager
def _without_runtime_info_lines():
    """Drops the runtime's native ``INFO:`` lines (``Created TensorFlow Lite XNNPACK delegate
    for CPU.`` on every model load) from stderr; anything else it prints is passed on."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded, some notebooks): leave it
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not line.startswith("INFO: "))
            if kept:
                sys.stderr.write(kept)


def check_num_threads(num_threads) -> Optional[int]:
    """``num_threads`` checked: ``None`` (the number of CPUs) or an int >= 1.

    Raises:
      ValueError: anything else (0, a negative number, a float, a string), naming
        ``num_threads``.
    """
    if num_threads is None:
        return None
    if (
        isinstance(num_threads, bool)
        or not isinstance(num_threads, numbers.Integral)
        or num_threads < 1
    ):
        raise ValueError(
            f"num_threads must be an int >= 1 or None (the number of CPUs), got {num_threads!r}"
        )
    return int(num_threads)


def make_interpreter(
    model,
    runtime: str = "auto",
    num_threads: Optional[int] = None,
    preserve_all_tensors: bool = False,
):
    """An allocated interpreter for a model file or bytes.

    Args:
      model: a ``.tflite`` path or the model's bytes.
      runtime: ``"auto"``, ``"litert"`` (ai-edge-litert) or ``"tf"`` (tf.lite).
      num_threads: CPU threads (XNNPACK), >= 1; default (``None``): the number of CPUs.
      preserve_all_tensors: keep every intermediate tensor readable with ``get_tensor``
        after ``invoke`` (the runtime's ``experimental_preserve_all_tensors``: no XNNPACK,
        more memory; for inspecting activations, not for serving).
    Raises:
      TFLiteInterfaceError: not a model the interpreter can load (the message says why).
      ValueError: ``num_threads`` or ``runtime`` is not a valid value (before the model is read).
      ImportError: the runtime asked for is not installed.
    """
    threads = check_num_threads(num_threads) or os.cpu_count() or 1
    interpreter_class = _interpreter_class(runtime)
    if isinstance(model, (str, os.PathLike)):
        kwargs = {"model_path": os.fspath(model)}
    else:
        kwargs = {"model_content": bytes(model)}
    if preserve_all_tensors:
        kwargs["experimental_preserve_all_tensors"] = True
    try:
        with warnings.catch_warnings(), _without_runtime_info_lines():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            interpreter = interpreter_class(num_threads=threads, **kwargs)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError, OSError) as error:
        raise TFLiteInterfaceError(
            f"not a TFLite model the interpreter can load: {str(error).strip()[:300]}"
        ) from error
    return interpreter


def google_input_index(interpreter) -> int:
    """The tensor index of input ``image:0``, found as Google's script finds it.

    Raises:
      KeyError: the model has no input of that name (not a drop-in).
    """
    index_map = {m["name"]: m["index"] for m in interpreter.get_input_details()}
    return index_map[GOOGLE_INPUT_NAME]


def google_center(interpreter, frame: np.ndarray) -> np.ndarray:
    """One frame -> output 0, exactly as Google's script computes it.

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


def google_centers(interpreter, frames: np.ndarray) -> np.ndarray:
    """``float32 [N, H, W, 3]`` frames -> ``float64 [N, 2]`` (x, y) frame pixels, Google's way."""
    if not len(frames):
        return np.zeros((0, 2))
    return np.stack([google_center(interpreter, frame) for frame in frames])


class TFLiteModel:
    """A ``.tflite`` attention-centre model with its tensors found by name and shape.

    Args:
      model: a ``.tflite`` path or the model's bytes.
      runtime: see :func:`make_interpreter`.
      num_threads: interpreter threads (default: the number of CPUs).

    Attributes:
      interpreter: the allocated interpreter.
      frame_hw: ``(H, W)`` of the image input.
      has_weight_map: whether the model outputs a ``[1, h, w, 1]`` weighting map.
    Raises:
      TFLiteInterfaceError: unloadable, or no image input / ``[1, 2]`` centre output.
    """

    def __init__(self, model, runtime: str = "auto", num_threads: Optional[int] = None):
        self.interpreter = make_interpreter(model, runtime, num_threads)
        inputs = self.interpreter.get_input_details()
        image_inputs = [d for d in inputs if "image" in d["name"].lower()]
        if not image_inputs:
            image_inputs = [d for d in inputs if len(d["shape"]) == 4 and d["dtype"] == np.float32]
        if len(image_inputs) != 1:
            raise TFLiteInterfaceError(
                "cannot tell which input is the image: "
                f"{[(d['name'], list(d['shape'])) for d in inputs]}"
            )
        self._input = image_inputs[0]
        shape = [int(v) for v in self._input["shape"]]
        if len(shape) != 4 or shape[-1] != 3 or self._input["dtype"] != np.float32:
            raise TFLiteInterfaceError(
                "image input must be float32 [1, H, W, 3], got "
                f"{self._input['dtype'].__name__} {shape}"
            )
        self.input_shape = shape
        self.frame_hw = (shape[1], shape[2])
        outputs = self.interpreter.get_output_details()
        centers = [d for d in outputs if len(d["shape"]) == 2 and int(d["shape"][-1]) == 2]
        if not centers:
            raise TFLiteInterfaceError(
                f"no [1, 2] centre output: {[(d['name'], list(d['shape'])) for d in outputs]}"
            )
        named = [d for d in centers if "center" in d["name"].lower()]
        self._center = (named or centers)[0]
        maps = [d for d in outputs if len(d["shape"]) == 4 and int(d["shape"][-1]) == 1]
        self._weight_map = maps[0] if maps else None
        self.has_weight_map = self._weight_map is not None

    def run(self, frame: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """One frame -> ``(center float64 [2] (x, y) frame pixels, weight map float32 [h, w, 1] or
        None)``.

        Args:
          frame: ``float32 [H, W, 3]`` RGB in [0, 1], ``(H, W) == frame_hw``.
        """
        self.interpreter.set_tensor(
            self._input["index"], np.asarray(frame, np.float32).reshape(self.input_shape)
        )
        self.interpreter.invoke()
        # Copies: the interpreter reuses its output buffers on the next invoke.
        center = np.array(self.interpreter.get_tensor(self._center["index"]), np.float64).reshape(2)
        weight_map = None
        if self._weight_map is not None:
            weight_map = np.array(
                self.interpreter.get_tensor(self._weight_map["index"]), np.float32
            )[0]
        return center, weight_map


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
