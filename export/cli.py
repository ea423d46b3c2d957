"""``python -m export``: a Keras attention-centre model -> a drop-in TFLite file.

Writes ``--out`` (``center.tflite``) and ``--out.json`` (its metadata), after
the parity check against the Keras model has passed; with ``--saved_model
DIR`` also the SavedModel it was converted from. Exit status: 0 on success;
1 when the export failed (bad model, unreadable image folder, conversion or
parity failure: nothing is written) or when some images could not be read
(they are listed; the model is written from the others); 2 for a bad
``--input_size`` / ``--internal_size`` or stray arguments (absl itself exits 1
on a flag it cannot parse).
"""

from __future__ import annotations

import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The .keras model (default: the bundled model, "
                    "attention_center/assets/default_model/model.keras).")
flags.DEFINE_string("out", "center.tflite", "The .tflite to write (its metadata goes beside it "
                    "as <out>.json).")
flags.DEFINE_enum("quantization", "int8", ["float32", "float16", "dynamic", "int8"],
                  "float32 | float16 (float16 weights) | dynamic (int8 weights) | int8 (int8 "
                  "weights and activations; float32 input and output).")
flags.DEFINE_string("representative_data", None, "Folder of real photos for int8 calibration "
                    "(default: the Kodak photos and OSIE train-split stimuli in ../shared/data; "
                    "without it, the 8 photos in export/photos/calibration).")
flags.DEFINE_integer("num_representative", 100, "Calibration images (evenly spaced).",
                     lower_bound=1)
flags.DEFINE_string("parity_data", None, "Folder of real photos for the parity check (default: "
                    "OSIE val/test-split stimuli in ../shared/data; without it, the 6 photos "
                    "in export/photos/parity).")
flags.DEFINE_integer("num_parity", 50, "Parity images.", lower_bound=1)
flags.DEFINE_float("parity_threshold", None, "Largest allowed TFLite-vs-Keras centre distance, "
                   "as a fraction of the frame diagonal (default per quantization: float32 "
                   "0.00125, float16 0.0025, dynamic 0.02, int8 0.03).")
flags.DEFINE_string("input_size", "480x640", "Input HxW of the exported model (Google's: 480x640).")
flags.DEFINE_string("internal_size", "model", "Size the network works at inside the exported "
                    "graph (the input is resized to it first): 'model' (the size the model was "
                    "built and trained at, or its internal_hw), 'input' (the --input_size), or HxW.")
flags.DEFINE_string("saved_model", None, "Also write the SavedModel to this (new) folder.")
flags.DEFINE_bool("weight_map", False, "Add the weighting map as output 1.")
flags.DEFINE_string("model_card", None, "Model card JSON for the metadata: version, "
                    "training_data, metrics (default: metadata.json beside the model, else "
                    "the training run folder's config.json and history.jsonl).")
flags.DEFINE_bool("progress", True, "Progress bars.")


def main(argv) -> int:
    """Parses the size flags and calls :func:`export.pipeline.run_export`."""
    if len(argv) > 1:
        sys.stderr.write(f"python -m export: error: unexpected arguments {argv[1:]}\n")
        return 2
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's SavedModel chatter
    from attention_center.image import parse_hw
    from export.pipeline import run_export

    try:
        input_hw = parse_hw(FLAGS.input_size)
        internal_hw = {"model": "model", "input": None}.get(FLAGS.internal_size, None)
        if FLAGS.internal_size not in ("model", "input"):
            internal_hw = parse_hw(FLAGS.internal_size)
    except ValueError as error:
        sys.stderr.write(f"python -m export: error: {error}\n")
        return 2
    return run_export(
        model=FLAGS.model, out=FLAGS.out, quantization=FLAGS.quantization, input_hw=input_hw,
        internal_hw=internal_hw, representative_data=FLAGS.representative_data,
        num_representative=FLAGS.num_representative, parity_data=FLAGS.parity_data,
        num_parity=FLAGS.num_parity, parity_threshold=FLAGS.parity_threshold,
        saved_model=FLAGS.saved_model, weight_map=FLAGS.weight_map,
        model_card=FLAGS.model_card, progress=FLAGS.progress)


def run() -> None:
    """Entry point: parses the flags and exits with :func:`main`'s status."""
    app.run(main)
