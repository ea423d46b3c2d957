"""``python -m export``: a Keras attention-centre model -> a drop-in TFLite file for Google's.

    python -m export --model run/model.keras --out center.tflite [--quantization int8]

The same as ``attention-center export`` (:mod:`attention_center.cli.export`): writes --out (and its
metadata
as <out>.json) once the TFLite centres match the Keras model's on real photos (see
docs/export.md). TFLite conversion needs Keras on TensorFlow: the backend is set before
anything imports Keras, and a different backend forced by KERAS_BACKEND is refused.

The program is started with :func:`runpy.run_module`, not imported: ``export`` is the
converter library, and no library module imports a program (docs/ARCHITECTURE.md).
"""

import runpy
import sys

if __name__ == "__main__":
    sys.argv[0] = "python -m export"
    runpy.run_module("attention_center.cli.export", run_name="__main__")
