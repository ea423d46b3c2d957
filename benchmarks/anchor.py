"""What the benchmarks share: where Google's model (the anchor) lies, and NAME=SPEC model flags.

Google's ``center.tflite`` is read from ``$ATTENTION_CENTER_SHARED/anchors/`` (default: the
``shared`` folder beside the repository) and never copied into it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Google's published model, the anchor every benchmark measures beside ours.
GOOGLE_MODEL = (
    Path(os.environ.get("ATTENTION_CENTER_SHARED", REPO.parent / "shared"))
    / "anchors"
    / "google_center.tflite"
)

#: Its column or row name in the benchmarks' tables.
GOOGLE_COLUMN = "Google center.tflite"


def named_specs(values: Iterable[str]) -> dict[str, str]:
    """``["NAME=SPEC", "large", ...]`` -> ``{"NAME": "SPEC", "large": "large"}``, in order.

    A value without ``=`` names itself (a preset name or a file).
    """
    out = {}
    for value in values:
        name, sep, spec = value.partition("=")
        out[name if sep else value] = spec if sep else value
    return out
