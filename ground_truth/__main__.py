"""``python -m ground_truth``: a thin entry point that starts the ``attention-center
ground-truth`` program (:mod:`attention_center.cli.ground_truth`).

The program is started with :func:`runpy.run_module`, not imported: ``ground_truth`` is the
layer below the library and never imports a program (docs/ARCHITECTURE.md).
"""

import runpy
import sys

if __name__ == "__main__":
    sys.argv[0] = "python -m ground_truth"
    runpy.run_module("attention_center.cli.ground_truth", run_name="__main__")
