"""The files a scoring command reads, so that none of its outputs can be written over them.

``evaluate`` and ``calibrate`` read models, a ground-truth build (its ``index.jsonl``, the
frames and the original images its rows name) or a prepared TFDS dataset; an output path
that is one of these files (or the same file as another output) is refused before any work:
:func:`output_clash` says why, the command exits 2. Files are compared by device and inode
when they exist (so hard and symbolic links are caught), else by resolved path
(:func:`attention_center.core.files.file_identity`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Optional, Union

from attention_center.core.files import file_identity

__all__ = ["data_files", "model_files", "output_clash"]


def model_files(specs: Sequence, fmt: str = "auto", flag: str = "--model") -> dict:
    """``{file_identity: "--model PATH"}`` of the model files ``specs`` stand for (presets
    resolved, :func:`attention_center.presets.resolve_model`; an unknown preset is left out,
    for the loader to report)."""
    from attention_center.presets import PresetError, resolve_model

    files = {}
    for spec in specs:
        try:
            path = resolve_model(spec, fmt=fmt)
        except PresetError:
            continue
        files[file_identity(path)] = f"{flag} {path}"
    return files


def data_files(data, flag: str = "--data") -> dict:
    """``{file_identity: description}`` of every file of ``data``: a build's ``index.jsonl``
    and its rows' frames and images, or every file of a prepared TFDS dataset's versions.

    Raises:
      FileNotFoundError, ValueError: not a build (or a broken index: file and line named),
        nor a prepared dataset.
    """
    from attention_center.core.ground_truth_index import build_files
    from attention_center.data.tfds_input import is_tfds, version_dirs

    if is_tfds(data):
        files = [p for d in version_dirs(data) for p in d.rglob("*") if p.is_file()]
    else:
        files = sorted(build_files(data))
    return {file_identity(path): f"{flag} {data}: {path}" for path in files}


def output_clash(
    outputs: Sequence[tuple[str, Optional[os.PathLike | str]]],
    inputs: Union[Mapping, Callable[[], Mapping]],
) -> Optional[str]:
    """Why one of ``outputs`` may not be written, or ``None``.

    Args:
      outputs: ``(flag, path)`` pairs (``("--out_md", "table.md")``); ``None`` paths skipped.
      inputs: ``{file_identity: description}`` (:func:`model_files`, :func:`data_files`), or a
        callable returning it (called only when there is an output).
    Returns:
      ``"--a X and --b X are the same file; ..."`` or ``"--a X: is an input (...); ..."``.
    """
    outputs = [(flag, path) for flag, path in outputs if path]
    if not outputs:
        return None
    seen: dict = {}
    for flag, path in outputs:
        other = seen.setdefault(file_identity(path), (flag, path))
        if other[0] != flag:
            return (
                f"{other[0]} {other[1]} and {flag} {path} are the same file; "
                "give them different paths"
            )
    inputs = inputs() if callable(inputs) else inputs
    for flag, path in outputs:
        what = inputs.get(file_identity(path))
        if what:
            return f"{flag} {path}: is an input ({what}); refused (it would be overwritten)"
    return None
