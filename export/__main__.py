"""``python -m export``: a Keras attention-centre model -> a drop-in TFLite file for Google's.

    python -m export --model run/model.keras --out center.tflite [--quantization int8]

The same as ``attention-center export`` (:mod:`export.cli`): writes --out (and its metadata
as <out>.json) once the TFLite centres match the Keras model's on real photos (see
docs/export.md). TFLite conversion needs Keras on TensorFlow: the backend is set before
anything imports Keras, and a different backend forced by KERAS_BACKEND is refused.
"""

import sys

from export.cli import run

if __name__ == "__main__":
    run(["python -m export", *sys.argv[1:]])
