"""``attention-center export`` / ``python -m export``: a Keras model -> a drop-in TFLite file.

Usage::

  attention-center export [--model M.keras|PRESET] --out center.tflite [--quantization int8]

Writes ``--out`` (``center.tflite``) and ``--out.json`` (its metadata), after
the parity check against the Keras model has passed; with ``--saved_model
DIR`` also the SavedModel it was converted from. Exit status: 0 on success;
1 when the conversion or the parity check failed (nothing is written) or when
some images could not be read (they are listed; the model is written from the
others); 2 for a usage error found before any conversion: a bad flag or size,
stray arguments, a missing, truncated or invalid model, a missing or empty image
folder, an ``--int8_float_until`` level the model lacks, an ``--out`` that cannot
be written or that (or its ``<out>.json``) is an input, a ``--saved_model`` that
exists and is not an empty folder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from absl import flags, logging

FLAGS = flags.FlagValues()
flags.DEFINE_string(
    "model",
    None,
    "The .keras model: a path or a preset name (default: the 'default' preset's model.keras).",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "out",
    "center.tflite",
    "The .tflite to write (its metadata goes beside it as <out>.json).",
    flag_values=FLAGS,
)
flags.DEFINE_enum(
    "quantization",
    "int8",
    ["float32", "float16", "dynamic", "int8"],
    "float32 | float16 (float16 weights) | dynamic (int8 weights) | int8 (int8 "
    "weights and activations; float32 input and output).",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "representative_data",
    None,
    "Folder of real images for int8 calibration "
    "(default: the Kodak photos and the train split of every kind of image in "
    "../shared/data: photos, web pages, charts, designs; without it, the 8 photos in "
    "export/photos/calibration).",
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "num_representative",
    100,
    "Calibration images (evenly spaced).",
    lower_bound=1,
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "parity_data",
    None,
    "Folder of real photos for the parity check (default: "
    "OSIE val/test-split stimuli in ../shared/data; without it, the 6 photos "
    "in export/photos/parity).",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "int8_float_until",
    "P2",
    "int8 only: the backbone's layers up to this pyramid level (its stem and first blocks) "
    "stay in float32, where int8 errs most (docs/export.md); 'none' quantizes them too.",
    flag_values=FLAGS,
)
flags.DEFINE_enum(
    "int8_ranges",
    "minmax",
    ["minmax", "mse"],
    "int8 only: each activation's range: 'minmax' (TFLite's calibration, the smallest and "
    "largest value seen) or 'mse' (the range of least squared error over the calibration "
    "frames: centres closer to the float model's on average; docs/export.md).",
    flag_values=FLAGS,
)
flags.DEFINE_boolean(
    "int8_bias_correction",
    False,
    "int8 only: correct each quantized convolution's bias so that its int8 output keeps the "
    "float model's mean per channel over the calibration frames (one quantization and one "
    "pass over them per convolution: about 35 s more for the bundled model; with "
    "--int8_ranges mse, centres closest to the float model's; docs/export.md).",
    flag_values=FLAGS,
)
flags.DEFINE_integer("num_parity", 50, "Parity images.", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_float(
    "parity_threshold",
    None,
    "Largest allowed TFLite-vs-Keras centre distance, "
    "as a fraction of the frame diagonal (default per quantization: float32 "
    "0.00125, float16 0.0025, dynamic 0.02, int8 0.03).",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "input_size",
    "480x640",
    "Input HxW of the exported model (Google's: 480x640).",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "internal_size",
    "model",
    "Size the network works at inside the exported "
    "graph (the input is resized to it first): 'model' (the size the model was "
    "built and trained at, or its internal_hw), 'input' (the --input_size), or HxW.",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "saved_model", None, "Also write the SavedModel to this (new) folder.", flag_values=FLAGS
)
flags.DEFINE_bool("weight_map", False, "Add the weighting map as output 1.", flag_values=FLAGS)
flags.DEFINE_string(
    "model_card",
    None,
    "Model card JSON for the metadata: version, "
    "training_data, metrics (default: metadata.json beside the model, else "
    "the training run folder's config.json and history.jsonl).",
    flag_values=FLAGS,
)
flags.DEFINE_bool("progress", True, "Progress bars.", flag_values=FLAGS)


USAGE = __doc__


def main(argv: Sequence[str]) -> int:
    """Parses the size flags and calls :func:`export.pipeline.run_export`."""
    if len(argv) > 1:
        sys.stderr.write(f"{argv[0]}: error: unexpected arguments {list(argv[1:])}\n")
        return 2
    from attention_center.core.command_flags import output_file_flag

    output_file_flag("out", FLAGS.out)  # a usage error before TensorFlow and the conversion
    logging.set_verbosity(logging.WARNING)  # TensorFlow's SavedModel chatter
    from attention_center.core.frames import parse_hw
    from export.pipeline import run_export

    try:
        input_hw = parse_hw(FLAGS.input_size)
        internal_hw = {"model": "model", "input": None}.get(FLAGS.internal_size, None)
        if FLAGS.internal_size not in ("model", "input"):
            internal_hw = parse_hw(FLAGS.internal_size)
    except ValueError as error:
        sys.stderr.write(f"{argv[0]}: error: {error}\n")
        return 2
    return run_export(
        model=FLAGS.model,
        out=FLAGS.out,
        quantization=FLAGS.quantization,
        input_hw=input_hw,
        internal_hw=internal_hw,
        representative_data=FLAGS.representative_data,
        num_representative=FLAGS.num_representative,
        parity_data=FLAGS.parity_data,
        num_parity=FLAGS.num_parity,
        parity_threshold=FLAGS.parity_threshold,
        saved_model=FLAGS.saved_model,
        weight_map=FLAGS.weight_map,
        model_card=FLAGS.model_card,
        progress=FLAGS.progress,
        float_until=None if FLAGS.int8_float_until.lower() == "none" else FLAGS.int8_float_until,
        int8_ranges=FLAGS.int8_ranges,
        int8_bias_correction=FLAGS.int8_bias_correction,
    )


def use_tensorflow_backend(prog: str) -> None:
    """Sets ``KERAS_BACKEND=tensorflow`` before Keras is imported; exits 2 if another is forced."""
    backend = os.environ.get("KERAS_BACKEND")
    if backend and backend != "tensorflow":
        sys.stderr.write(
            f"{prog}: error: TFLite export needs the TensorFlow backend, but "
            f"KERAS_BACKEND={backend}; unset it or set KERAS_BACKEND=tensorflow\n"
        )
        sys.exit(2)
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run(argv: Sequence[str] | None = None) -> None:
    """Entry point: parses ``argv`` into :data:`FLAGS`, exits with :func:`main`'s status."""
    from attention_center.core.command_flags import run_with_flags

    def main_on_tensorflow(rest):
        use_tensorflow_backend(rest[0])
        return main(rest)

    run_with_flags(FLAGS, main_on_tensorflow, USAGE, argv)


if __name__ == "__main__":
    run()
