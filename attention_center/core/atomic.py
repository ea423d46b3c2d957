"""Atomic outputs: every file the project writes appears complete or not at all.

One mechanism for every writer (JSON, index files, frames, overlays, ``.keras`` models,
``.tflite`` files, cjxl outputs, SavedModel folders): the content is written to a temporary
file (or folder) **in the destination's folder**, then renamed over the destination with
``os.replace``, which is atomic on POSIX file systems. A failure or an interruption removes
the temporary file; a ``kill -9`` cannot, so temporary names are recognisable::

    .<destination name>.<pid>-<random>.ac-tmp[<suffix>]

and :func:`remove_stale_temporaries` deletes those whose process is gone (``encode`` runs it
on its output folder at start). Temporary files start with a dot, so folder walks that skip
hidden files never take them for inputs.

Permissions: the result gets ``0o666 & ~umask`` (files) like a plain ``open``, not the
``0o600`` of ``tempfile.mkstemp``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

__all__ = [
    "TEMP_MARK",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "is_temporary",
    "remove_stale_temporaries",
    "stale_temporaries",
]

#: What every temporary name contains.
TEMP_MARK = ".ac-tmp"
_PID_WIDTH = 7  # /proc/sys/kernel/pid_max is at most 2**22 = 4194304
_TEMP_RE = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.ac-tmp")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Longest file name in bytes where the folder's limit cannot be asked (Linux, macOS: 255).
NAME_MAX = 255


def _name_max(folder: Path) -> int:
    """The folder's longest file name, in bytes (``NAME_MAX``; 255 when it cannot be asked)."""
    try:
        return int(os.pathconf(folder if folder.is_dir() else ".", "PC_NAME_MAX")) or NAME_MAX
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def temporary_name(destination: os.PathLike | str, suffix: str = "") -> Path:
    """A fresh temporary path beside ``destination`` (not created).

    ``.<destination name>.<pid>-<8 hex>.ac-tmp<suffix>``, which fits the folder's file-name
    limit (``NAME_MAX``, 255 bytes): when the destination's name is too long for that, it is
    cut (on a character boundary) and followed by ``~`` and 8 hex digits of its SHA-256, so a
    240-character destination (whose name fits) still gets a temporary that fits, and
    :func:`is_temporary` / :func:`stale_temporaries` still recognise it. The room is
    counted for a pid of the largest width Linux gives (7 digits), so the names of any
    process fit, and a destination is cut the same way by every process.
    """
    destination = Path(destination)
    pid = str(os.getpid())
    token = f"{pid}-{secrets.token_hex(4)}"
    name = destination.name
    tail = f".{token}{TEMP_MARK}{suffix}"
    tail_room = len(os.fsencode(tail)) + max(0, _PID_WIDTH - len(pid))
    limit = _name_max(destination.parent)
    encoded = os.fsencode(name)
    if 1 + len(encoded) + tail_room > limit:
        digest = hashlib.sha256(encoded).hexdigest()[:8]
        room = max(1, limit - 1 - tail_room - len(f"~{digest}"))
        name = f"{encoded[:room].decode('utf-8', 'ignore')}~{digest}"
    return destination.with_name(f".{name}{tail}")


def _as_text(name) -> Optional[str]:
    """An ``OSError`` file name (``str``, ``bytes``, a path or ``None``) as text."""
    try:
        return None if name is None else os.fsdecode(name)
    except TypeError:
        return None


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


@contextlib.contextmanager
def atomic_path(
    destination: os.PathLike | str,
    suffix: str = "",
    directory: bool = False,
    mode: Optional[int] = None,
) -> Iterator[Path]:
    """Yields a temporary path to write; on success it is renamed over ``destination``.

    Args:
      destination: the final file (or folder, with ``directory=True``). Its folder is
        created if needed.
      suffix: ending of the temporary name, for writers that choose a format by it
        (``".keras"``, ``".weights.h5"``).
      directory: create the temporary as an empty folder (e.g. a SavedModel); the
        destination must not exist or be an empty folder.
      mode: permissions of the result (default ``0o666 & ~umask``; folders ``0o777 & ~umask``).
    Raises:
      whatever the body raises (the temporary is removed first); ``OSError`` when the
      destination folder cannot be created or written.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(destination, suffix)
    if directory:
        temporary.mkdir()
    try:
        yield temporary
        if not temporary.exists():
            raise FileNotFoundError(errno.ENOENT, "the writer produced no file", str(temporary))
        default = (0o777 if directory else 0o666) & ~_umask()
        os.chmod(temporary, default if mode is None else mode)
        if directory and destination.is_dir() and not any(destination.iterdir()):
            destination.rmdir()
        os.replace(temporary, destination)
    except BaseException as error:
        _remove(temporary)
        if isinstance(error, OSError) and str(temporary) in map(
            _as_text, (error.filename, error.filename2)
        ):
            # Name what the user asked for, not our temporary name.
            raise type(error)(error.errno, error.strerror, str(destination)) from error
        raise


def atomic_write_bytes(destination: os.PathLike | str, data: bytes, fsync: bool = False) -> Path:
    """Writes ``data`` to ``destination`` atomically; returns ``destination`` as a Path."""
    destination = Path(destination)
    with atomic_path(destination) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
    return destination


def atomic_write_text(destination: os.PathLike | str, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``destination`` atomically."""
    return atomic_write_bytes(destination, text.encode("utf-8"))


def atomic_write_json(destination: os.PathLike | str, data, indent: Optional[int] = 1) -> Path:
    """Writes ``data`` as JSON (plus a final newline) to ``destination`` atomically."""
    return atomic_write_text(destination, json.dumps(data, indent=indent) + "\n")


def is_temporary(path: os.PathLike | str) -> bool:
    """Whether a file name is one of our temporaries (see the module docstring)."""
    return bool(_TEMP_RE.match(Path(path).name))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def stale_temporaries(folder: os.PathLike | str, recursive: bool = True) -> list[Path]:
    """Our temporaries under ``folder`` whose writing process no longer runs (sorted)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    walker = os.walk(folder) if recursive else [(str(folder), [], os.listdir(folder))]
    for root, dirs, files in walker:
        for name in list(files) + list(dirs):
            match = _TEMP_RE.match(name)
            if match and not _alive(int(match.group(1))):
                found.append(Path(root) / name)
        dirs[:] = [d for d in dirs if not _TEMP_RE.match(d)]
    return sorted(found)


def remove_stale_temporaries(folder: os.PathLike | str, recursive: bool = True) -> list[Path]:
    """Deletes what :func:`stale_temporaries` finds (left by a killed run); returns them."""
    stale = stale_temporaries(folder, recursive)
    for path in stale:
        _remove(path)
    return stale
