"""Named, bundled models (presets), kept apart from the code that builds and runs them.

As keras-hub separates presets from model code: ``presets.json`` in this folder names each
preset and the folder of its files under ``attention_center/``; every preset folder holds

* ``model.tflite``: the int8 drop-in for Google's ``center.tflite`` (what ``predict``,
  ``encode`` and the Python API run by default: it needs only ``ai-edge-litert``);
* ``model.keras``: the Keras model it was exported from (to fine-tune, evaluate maps,
  export again; needs Keras);
* ``metadata.json``: the model card's figures (version, data, metrics).

A *model spec*, wherever the API or a command takes one (``--model``, ``model=``), is a
preset name (``"default"``, ``"large"``), a name with a format (``"default:keras"``,
``"large:tflite"``), or a path to a ``.tflite`` / ``.keras`` file. :func:`resolve_model`
turns any of them into a file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import Optional

__all__ = [
    "DEFAULT_PRESET",
    "FORMATS",
    "Preset",
    "PresetError",
    "get_preset",
    "list_presets",
    "resolve_model",
]

_PACKAGE = Path(__file__).resolve().parents[1]
#: The preset a model spec of ``None`` means.
DEFAULT_PRESET = "default"
#: File formats of a preset, in the order ``"auto"`` tries them.
FORMATS = ("tflite", "keras")
#: Old names: the evaluator's ``--model bundled``; ``small`` (the <= 1 MB MobileNetV2 P2-P4
#: model of 0.2.0, replaced by the default model 2.0, which is under 1 MB itself).
_ALIASES = {"bundled": DEFAULT_PRESET, "small": DEFAULT_PRESET}


class PresetError(ValueError):
    """A model spec names no preset or file, or the preset's file is not installed."""


@dataclasses.dataclass(frozen=True)
class Preset:
    """One bundled model.

    Attributes:
      name: the preset's name (``"default"``).
      directory: the folder of its files.
      description: one line.
    """

    name: str
    directory: Path
    description: str = ""

    def path(self, fmt: str) -> Path:
        """``model.<fmt>`` of this preset (``fmt`` in :data:`FORMATS`, or ``"metadata"``)."""
        if fmt == "metadata":
            return self.directory / "metadata.json"
        if fmt not in FORMATS:
            raise PresetError(f"format must be one of {FORMATS}, got {fmt!r}")
        return self.directory / f"model.{fmt}"

    def metadata(self) -> Optional[dict]:
        """``metadata.json`` as a dict, or ``None`` when it is missing."""
        path = self.path("metadata")
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, Preset]:
    entries = json.loads((Path(__file__).with_name("presets.json")).read_text(encoding="utf-8"))
    return {
        name: Preset(name, _PACKAGE / entry["directory"], entry.get("description", ""))
        for name, entry in entries.items()
    }


def list_presets() -> list[str]:
    """Names of the bundled presets, sorted."""
    return sorted(_registry())


def get_preset(name: str) -> Preset:
    """The preset of that name (``"bundled"`` is the default's old name).

    Raises:
      PresetError: no such preset (the message lists them).
    """
    name = _ALIASES.get(name, name)
    try:
        return _registry()[name]
    except KeyError:
        raise PresetError(
            f"unknown model preset {name!r}; presets: "
            f"{', '.join(list_presets())} (or give a .tflite/.keras file)"
        ) from None


def resolve_model(spec=None, fmt: str = "auto") -> Path:
    """The model file a spec stands for.

    Args:
      spec: ``None`` (the default preset), a preset name, ``"name:format"``, or a path.
      fmt: for presets: ``"tflite"``, ``"keras"``, or ``"auto"`` (the first of
        :data:`FORMATS` that is installed). A ``":format"`` in the spec wins.
    Returns:
      the file's path. A path spec is returned as given (checked by the loader).
    Raises:
      PresetError: an empty name, an unknown preset, or none of its files is installed.
    """
    if spec is None:
        spec = DEFAULT_PRESET
    text = os.fspath(spec)
    if not text.strip():  # not the working directory that Path("") stands for
        raise PresetError(
            f"empty model name; give a preset name ({', '.join(list_presets())}) "
            "or a .tflite/.keras file"
        )
    name, _, suffix = text.partition(":")
    is_preset = (
        os.sep not in text
        and (name in _registry() or name in _ALIASES)
        and suffix in ("", *FORMATS)
    )
    # A preset's name wins over a file of that name in the working directory (write
    # ./default for the file): what a command means must not depend on the folder it runs in.
    looks_like_path = not is_preset and (
        os.sep in text or text.endswith((".tflite", ".keras", ".h5")) or Path(text).exists()
    )
    if looks_like_path:
        return Path(text)
    preset = get_preset(name)
    fmt = suffix or fmt
    candidates = FORMATS if fmt == "auto" else (fmt,)
    for candidate in candidates:
        path = preset.path(candidate)
        if path.is_file():
            return path
    raise PresetError(
        f"preset {preset.name!r} has no {' or '.join(candidates)} model installed "
        f"in {preset.directory}"
    )
