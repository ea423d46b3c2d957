"""python -m export: a Keras attention-centre model -> a drop-in TFLite file for Google's.

    python -m export --model run/model.keras --out center.tflite [--quantization int8]

Writes --out (and its metadata as <out>.json) once the TFLite centres match the
Keras model's on real photos (see docs/export.md). Exit status: 0 written;
1 failed (nothing written) or some images unreadable (listed); 1 or 2 bad flags.

TFLite conversion needs Keras on TensorFlow: the backend is set here, before
anything imports Keras, and a different backend forced by KERAS_BACKEND is
refused with a clear message.
"""

import os
import sys

_backend = os.environ.get("KERAS_BACKEND")
if _backend and _backend != "tensorflow":
    sys.stderr.write(f"python -m export: TFLite export needs the TensorFlow backend, but "
                     f"KERAS_BACKEND={_backend}; unset it or set KERAS_BACKEND=tensorflow\n")
    sys.exit(2)
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from export import cli  # noqa: E402

flags.adopt_module_key_flags(cli)  # --help lists the exporter's flags

if __name__ == "__main__":
    cli.run()
