"""The cache of converted weights: one ``.weights.h5`` per checkpoint, written atomically."""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
from collections.abc import Callable

from attention_center.core.atomic import atomic_path

__all__ = ["cache_dir", "cached_weights_file", "file_digest"]


def cache_dir() -> pathlib.Path:
    """``$ATTENTION_CENTER_CACHE`` if set, else ``~/.cache/attention_center`` (not created here)."""
    env = os.environ.get("ATTENTION_CENTER_CACHE")
    return (
        pathlib.Path(env).expanduser()
        if env
        else pathlib.Path.home() / ".cache" / "attention_center"
    )


@functools.lru_cache(maxsize=8)
def _digest(path: str, size: int, mtime_ns: int, salt: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    h.update(salt.encode())
    return h.hexdigest()[:16]


def file_digest(path: os.PathLike | str, salt: str = "") -> str:
    """First 16 hex digits of sha256(file bytes + salt), memoized by path, size and mtime."""
    st = os.stat(path)
    return _digest(os.fspath(path), st.st_size, st.st_mtime_ns, salt)


def cached_weights_file(stem: str, write: Callable[[pathlib.Path], None]) -> pathlib.Path:
    """``cache_dir()/<stem>.weights.h5``, made by ``write(temporary_path)`` if it is missing.

    The file is written to a temporary beside it and renamed, so concurrent processes never
    see a partial file (the last writer wins with identical content).
    """
    target = cache_dir() / f"{stem}.weights.h5"
    if target.is_file():
        return target
    with atomic_path(target, suffix=".weights.h5") as temporary:
        write(temporary)
    return target
