"""``python -m export``: see :mod:`export.cli`.

TFLite conversion needs Keras on TensorFlow: the backend is set here, before
anything imports Keras, and a different backend forced by ``KERAS_BACKEND``
is refused with a clear message.
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

from export.cli import run  # noqa: E402

if __name__ == "__main__":
    run()
