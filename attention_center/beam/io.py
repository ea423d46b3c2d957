"""Files through Beam's file systems: local paths, ``gs://``, ``s3://`` alike.

Every read and write of the Beam pipeline goes through :mod:`apache_beam.io.filesystems`,
so the same code runs on a laptop and on a cluster reading a bucket. Two rules:

* **Atomic writes.** An output appears complete or not at all: local files are written
  with :mod:`attention_center.core.atomic` (a temporary beside the destination, then
  ``os.replace``); remote ones are written under the same recognisable temporary name
  (``.<name>.<pid>-<random>.ac-tmp``, :func:`attention_center.core.atomic.temporary_name`)
  and renamed over the destination with :meth:`FileSystems.rename` (object stores copy
  then delete: the destination object is created whole, never partly).
* **Deterministic names.** An input's outputs are named from its path relative to the
  fixed (wildcard-free) part of the input glob (:func:`glob_base`, :func:`relative_name`),
  so a rerun finds what an earlier, interrupted run already wrote.

Paths are strings; a path without a scheme is local (made absolute by :func:`normalize`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from apache_beam.io.filesystem import CompressionTypes, FileMetadata
from apache_beam.io.filesystems import FileSystems

from attention_center.core.atomic import atomic_write_bytes, temporary_name

__all__ = [
    "WILDCARDS",
    "Unreadable",
    "exists",
    "glob_base",
    "is_local",
    "join",
    "local_copy",
    "match",
    "normalize",
    "printable",
    "read_bytes",
    "relative_name",
    "stable_hash",
    "write_atomic",
    "write_if_changed",
]

#: Characters that start a wildcard in a Beam file pattern.
WILDCARDS = "*?[{"
_UNCOMPRESSED = CompressionTypes.UNCOMPRESSED


def is_local(path: str) -> bool:
    """Whether ``path`` has no URL scheme (a local file)."""
    return FileSystems.get_scheme(path) is None


def normalize(path: str) -> str:
    """A local path made absolute (``~`` expanded); a ``scheme://`` path unchanged."""
    path = os.fspath(path)
    return os.path.abspath(os.path.expanduser(path)) if is_local(path) else path


def join(base: str, relative: str) -> str:
    """``base/relative`` with ``/`` separators; ``relative`` is a posix relative path."""
    if is_local(base):
        return os.path.join(base, *PurePosixPath(relative).parts)
    return base.rstrip("/") + "/" + relative.lstrip("/")


def glob_base(pattern: str) -> str:
    """The folder an input glob is rooted at: the folder of its part before the first wildcard.

    ``/data/photos/**/*.jpg`` -> ``/data/photos``; ``gs://b/in/*.png`` -> ``gs://b/in``;
    a pattern without wildcards (one file) -> its folder; no folder at all -> ``"."``.
    """
    cut = min([pattern.find(c) for c in WILDCARDS if c in pattern] or [len(pattern)])
    head = pattern[:cut] if cut < len(pattern) else pattern.rstrip("/")
    return head.rsplit("/", 1)[0] if "/" in head else "."


def relative_name(path: str, base: str) -> str:
    """``path`` relative to ``base`` as a posix path (``a/b.jpg``).

    A path outside ``base`` (it cannot come from the glob, but a caller may pass any
    PCollection of files) is named ``_outside/<sha1 of the path>/<file name>``, still
    unique and deterministic.
    """
    if is_local(path) and is_local(base):
        path_posix, base_posix = Path(path).as_posix(), Path(base).as_posix()
    else:
        path_posix, base_posix = path, base
    prefix = base_posix.rstrip("/") + "/"
    if path_posix.startswith(prefix) and len(path_posix) > len(prefix):
        return path_posix[len(prefix) :]
    digest = hashlib.sha1(path.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"_outside/{digest}/{posixpath.basename(path_posix)}"


def stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every process and run (unlike ``hash``).

    A file name that is not valid UTF-8 (its bytes kept as lone surrogates, as Python and
    Beam's listing decode it) hashes too (``surrogatepass``)."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()[:8], "big")


def printable(text) -> str:
    """A path (or a message naming one) as valid UTF-8 text: unchanged when it is; else each
    byte of a file name that is not UTF-8 (a lone surrogate, ``"\\udcff"``, in Python) is
    written ``\\xNN``, as ``attention-center predict`` prints it
    (:func:`attention_center.cli.predict.printable_path`).

    Rows carry paths in this form: Beam encodes strings between steps as strict UTF-8, and
    JSON parsers refuse lone surrogates. Such a row's ``file`` is not the file's real name;
    output names (records, ``.jxl``) keep the real bytes.
    """
    text = os.fspath(text) if not isinstance(text, str) else text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that stands for no byte
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")
    return text


@dataclasses.dataclass(frozen=True)
class Unreadable:
    """A matched directory entry that cannot be read as a file.

    Attributes:
      path: the entry (as the listing names it).
      reason: why, in words (``"broken symbolic link to /x.png"``, ``"symbolic link loop"``).
    """

    path: str
    reason: str


def _unreadable_reason(path: str, error: OSError) -> str:
    if os.path.islink(path):
        target = os.readlink(path)
        if error.errno == errno.ELOOP:
            return f"symbolic link loop ({path} -> {target}): {error.strerror}"
        return f"broken symbolic link ({path} -> {target}): {error.strerror}"
    return f"cannot stat it: {type(error).__name__}: {error.strerror or error}"


def match(pattern: str) -> list:
    """Every entry ``pattern`` matches: a ``FileMetadata`` per file, as Beam lists them, and,
    for a local pattern, an :class:`Unreadable` per entry Beam's listing drops silently
    because it cannot be stat-ed (a broken symbolic link, a symbolic link loop).

    Matching follows Beam's rules (``*`` within a folder, ``**`` across folders).
    """
    found = list(FileSystems.match([pattern])[0].metadata_list)
    if not is_local(pattern):
        return found
    seen = {metadata.path for metadata in found}
    prefix = re.match(r"^[^[*?]*", pattern).group(0)  # Beam's own cut (FileSystem.match)
    if prefix == pattern:
        candidates = [pattern] if os.path.lexists(pattern) else []
    else:
        root = prefix if prefix.endswith(os.sep) else os.path.dirname(prefix)
        candidates = [
            os.path.join(folder, name)
            for folder, _, names in os.walk(root or ".")
            for name in names
        ]
    dropped = {}
    for path in candidates:
        if path in seen:
            continue
        try:
            os.stat(path)
        except OSError as error:
            dropped[path] = _unreadable_reason(path, error)
    if dropped:
        filesystem = FileSystems.get_filesystem(pattern)
        kept = filesystem.match_files([FileMetadata(p, 0) for p in sorted(dropped)], pattern)
        found += [Unreadable(m.path, dropped[m.path]) for m in kept]
    return found


def exists(path: str) -> bool:
    """Whether a file exists (one metadata request on an object store)."""
    return FileSystems.exists(path)


def read_bytes(path: str) -> bytes:
    """The whole file, uncompressed (a ``.gz`` name is not decompressed)."""
    with FileSystems.open(path, compression_type=_UNCOMPRESSED) as handle:
        return handle.read()


def _remote_temporary(destination: str) -> str:
    folder, name = destination.rsplit("/", 1)
    return folder + "/" + temporary_name(name).name


def write_atomic(destination: str, data: bytes) -> None:
    """Writes ``data`` to ``destination`` so that it appears complete or not at all.

    Raises:
      OSError (local) or ``apache_beam.io.filesystem.BeamIOError`` (remote): the
      destination cannot be written; the temporary is removed.
    """
    if is_local(destination):
        atomic_write_bytes(destination, data)
        return
    temporary = _remote_temporary(destination)
    try:
        with FileSystems.create(temporary, compression_type=_UNCOMPRESSED) as handle:
            handle.write(data)
        FileSystems.rename([temporary], [destination])
    except BaseException:
        with contextlib.suppress(Exception):
            if FileSystems.exists(temporary):
                FileSystems.delete([temporary])
        raise


def write_if_changed(destination: str, data: bytes) -> bool:
    """:func:`write_atomic` unless the file already holds exactly ``data``.

    A rerun that computes the same output therefore leaves the file (and its
    modification time) untouched. Returns whether it wrote.
    """
    if exists(destination):
        try:
            if read_bytes(destination) == data:
                return False
        except OSError:
            pass
    write_atomic(destination, data)
    return True


@contextlib.contextmanager
def local_copy(path: str, reader=None) -> Iterator[str]:
    """A local file with the content of ``path``, for tools that need one (Pillow, cjxl).

    A local ``path`` is yielded as it is (no copy). A remote one is streamed into a
    temporary folder (same file name, so the suffix still tells the format) that is
    removed afterwards.

    Args:
      path: the file.
      reader: an open binary stream of it to copy from (e.g. ``ReadableFile.open()``);
        default: :meth:`FileSystems.open`.
    """
    if is_local(path):
        yield path
        return
    folder = tempfile.mkdtemp(prefix="ac-beam-")
    try:
        local = os.path.join(folder, posixpath.basename(path) or "input")
        stream = (
            reader if reader is not None else FileSystems.open(path, compression_type=_UNCOMPRESSED)
        )
        with stream, open(local, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)
