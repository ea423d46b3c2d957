"""Apache Beam: attention centres and centre-first JPEG XL for millions of images.

Needs the ``beam`` extra (``pip install "attention-center[beam]"``). The command is
``attention-center beam --input GLOB --output DIR [--encode]`` (:mod:`attention_center.cli.beam`);
for your own pipelines:

* :class:`~attention_center.beam.transforms.ImageCenters`: files -> centre rows and
  dead-letter rows;
* :class:`~attention_center.beam.transforms.AttentionCenters`: the whole job from a glob to
  ``OUT/centers.jsonl``, ``OUT/errors.jsonl`` (and ``OUT/jxl/``);
* :class:`~attention_center.beam.model_handler.CenterModelHandler`: the ``RunInference``
  model handler alone.

Modules, one job each: :mod:`~attention_center.beam.io` (Beam file systems, atomic writes,
deterministic names), :mod:`~attention_center.beam.records` (output layout and rows),
:mod:`~attention_center.beam.model_handler`, :mod:`~attention_center.beam.decode` (files ->
frames), :mod:`~attention_center.beam.finish` (centres -> rows, ``.jxl``, records),
:mod:`~attention_center.beam.encode` (one image -> ``.jxl`` anywhere),
:mod:`~attention_center.beam.transforms`, :mod:`~attention_center.beam.metrics`.

Coordinates everywhere: ``(x, y)``, x first, 0-based pixel centres of the image as
displayed (EXIF orientation applied), as ``attention-center predict`` gives them.
"""

from __future__ import annotations

import os

# cjxl is started with a preexec_fn (attention_center.core.processes: own process group,
# death signal), so fork() rather than vfork(): in a Beam SDK worker process (FnApiRunner
# --direct_running_mode=multi_processing, Dataflow, Flink), gRPC's fork handlers then made
# about 1 cjxl in 10 abort (exit -6, "epoll_wait error: Bad file descriptor"). Without fork
# support gRPC installs none. Worker processes started after this import (FnApiRunner's)
# inherit it; a Dataflow or Flink container sets it itself (docs/beam.md, the Dockerfile).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

try:
    import apache_beam  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError(
        'attention_center.beam needs Apache Beam: pip install "attention-center[beam]"'
    ) from error

from attention_center.beam.model_handler import CenterModelHandler
from attention_center.beam.transforms import (
    AttentionCenters,
    ImageCenters,
    WriteJsonLines,
)

__all__ = ["AttentionCenters", "CenterModelHandler", "ImageCenters", "WriteJsonLines"]
