"""Readers: every shared format -> :class:`ground_truth.records.Record`.

``SOURCES`` maps a source name (``--source`` of the builder) to a function
``data_dir -> ReadResult``; ``data_dir`` is the folder holding the datasets
(``../shared/data``) or the dataset's own root.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ground_truth.readers.bubbleview import SOURCE_NAMES as BUBBLEVIEW_SOURCES
from ground_truth.readers.bubbleview import read_bubbleview
from ground_truth.readers.common import ReadResult
from ground_truth.readers.generic import read_generic
from ground_truth.readers.osie import read_osie_eye, read_osie_mouse
from ground_truth.readers.salicon import read_salicon
from ground_truth.readers.scene import read_scene_eye

__all__ = [
    "SOURCES",
    "ALIASES",
    "ReadResult",
    "read_source",
    "is_generic",
    "source_file",
    "read_generic",
    "read_osie_eye",
    "read_osie_mouse",
    "read_salicon",
    "read_scene_eye",
    "read_bubbleview",
    "BUBBLEVIEW_SOURCES",
]

SOURCES: dict[str, Callable[..., ReadResult]] = {
    "osie_eye": read_osie_eye,
    "osie_mouse_lab": lambda d: read_osie_mouse(d, "lab"),
    "osie_mouse_amt": lambda d: read_osie_mouse(d, "amt"),
    "scene_eye": read_scene_eye,
    "salicon_mouse": read_salicon,
    # BubbleView (ground_truth/readers/bubbleview.py): one source per .mat file, named
    # <set>_<modality>[_<upstream settings>], e.g. fiwi_eye, fiwi_click_10x30, bv_osie_eye,
    # bv_salicon_mouse, massvis_click_exp1_40x32, gdi_click_30x50.
    **{name: (lambda d, name=name: read_bubbleview(name, d)) for name in BUBBLEVIEW_SOURCES},
}

#: Short names accepted on the command line.
ALIASES = {"scene": "scene_eye", "salicon": "salicon_mouse", "osie": "osie_eye"}


def is_generic(name: str) -> bool:
    """Whether a ``--source`` names a generic CSV / JSONL file."""
    return name.lower().endswith((".csv", ".jsonl", ".ndjson"))


def source_file(name: str, data_dir) -> Path:
    """The file a generic ``--source`` names: as given when it is absolute or a file
    (relative to the working folder), else relative to ``data_dir``."""
    path = Path(name)
    if not path.is_absolute() and not path.is_file():
        path = Path(data_dir) / name
    return path


def read_source(name: str, data_dir) -> ReadResult:
    """Reads one source by name (see ``SOURCES``/``ALIASES``).

    A name ending in ``.csv``/``.jsonl`` is a generic file
    (:mod:`ground_truth.readers.generic`), absolute or relative to ``data_dir``;
    its dataset name is ``"custom"`` unless its rows say otherwise.
    """
    if is_generic(name):
        return read_generic(source_file(name, data_dir))
    name = ALIASES.get(name, name)
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; known: {sorted(SOURCES) + sorted(ALIASES)}")
    return SOURCES[name](data_dir)
