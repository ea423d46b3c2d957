"""A fast reader of MATLAB v5 ``.mat`` files, for the fields the BubbleView readers need.

scipy.io.loadmat spends ~16 us on every MATLAB element, and the click and mouse files hold
one `enc_time` string cell per point (2.3 million in all: 38 s of CPU to load the 32 files).
Their readers need only `enc`. :func:`read_variable` reads the MAT v5 layout itself and skips every
field it does not need by its byte size; anything it does not expect (big-endian, v7.3,
complex, sparse, objects, a corrupt stream) falls back to `load_mat`, the reference path,
whose errors (missing file, not a MATLAB file, no `bubble`) are then the ones raised. Its
output mimics `loadmat(squeeze_me=True, struct_as_record=False)`: structs with attributes and
`_fieldnames`, squeezed arrays, 1 x 1 values as scalars, empty values as `np.array([])`.

Wrong or corrupt input raises :class:`MatUnsupported` (never anything else): the caller falls
back to ``scipy.io.loadmat`` for its reference errors.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["MAX_ELEMENT_BYTES", "MatUnsupported", "check_file", "read_variable"]


_MI_DTYPES = {
    1: "<i1",
    2: "<u1",
    3: "<i2",
    4: "<u2",
    5: "<i4",
    6: "<u4",
    7: "<f4",
    9: "<f8",
    12: "<i8",
    13: "<u8",
}
#: MATLAB numeric classes (mxDOUBLE_CLASS ... mxUINT64_CLASS).
_MX_NUMERIC = frozenset(range(6, 16))
_MI_MATRIX, _MI_COMPRESSED = 14, 15
_MX_CELL, _MX_STRUCT, _MX_CHAR = 1, 2, 4
#: Character data types: miUINT8, miUINT16 (UCS-2), miUTF8, miUTF16, miUTF32.
_CHAR_CODECS = {2: "latin-1", 4: "utf-16-le", 16: "utf-8", 17: "utf-16-le", 18: "utf-32-le"}


class MatUnsupported(Exception):
    """Something this reader does not read (the caller falls back to ``scipy.io.loadmat``)."""


class _Struct:
    """A MATLAB struct as ``loadmat(struct_as_record=False)`` gives it (fields as attributes)."""

    def __init__(self, names, values):
        self._fieldnames = list(names)
        for name, value in zip(names, values):
            setattr(self, name, value)


def _squeezed(array: np.ndarray):
    """scipy's ``squeeze_element``: empty -> ``array([])``, 0-d -> its item."""
    if not array.size:
        return np.array([])
    array = np.squeeze(array)
    return array.item() if array.shape == () else array


def _tag(buffer, offset: int):
    """``(type, nbytes, data_offset, next_offset)`` of the data element at ``offset``."""
    if offset + 8 > len(buffer):
        raise MatUnsupported("truncated element")
    kind, nbytes = struct.unpack_from("<II", buffer, offset)
    if kind >> 16:  # small data element: 2 bytes of size, 2 of type, 4 of data
        return kind & 0xFFFF, kind >> 16, offset + 4, offset + 8
    end = offset + 8 + nbytes
    if end > len(buffer):
        raise MatUnsupported("truncated element")
    return kind, nbytes, offset + 8, (end + 7) & ~7


def _values(buffer, offset: int):
    """``(numpy array, next_offset)`` of a numeric data element."""
    kind, nbytes, start, end = _tag(buffer, offset)
    if kind not in _MI_DTYPES:
        raise MatUnsupported(f"data type {kind}")
    return np.frombuffer(
        buffer, _MI_DTYPES[kind], nbytes // np.dtype(_MI_DTYPES[kind]).itemsize, start
    ), end


def _check_room(count: int, per_item: int, room: int, dims) -> None:
    """Raises :class:`MatUnsupported` unless ``count`` cells or structs of ``per_item``
    elements each fit in ``room`` bytes (every element has an 8-byte tag, at least): a
    corrupt or hostile header (184 bytes claiming a 1 x 2e9 cell) is refused before its
    16 GB object array is allocated."""
    if count * per_item * 8 > room:
        raise MatUnsupported(
            f"a {'x'.join(map(str, dims))} array of {count * per_item:,} elements cannot fit "
            f"in the {room:,} bytes its element holds (corrupt)"
        )


def _matrix(buffer, offset: int, wanted):
    """``(value, next_offset)`` of the miMATRIX element at ``offset``.

    ``wanted``: struct field names to read (others are skipped unread); ``None``: all.
    """
    kind, nbytes, start, end = _tag(buffer, offset)
    if kind != _MI_MATRIX:
        raise MatUnsupported(f"element type {kind}, expected a matrix")
    if nbytes == 0:
        return np.array([]), end
    flags, at = _values(buffer, start)
    if len(flags) < 2:
        raise MatUnsupported("array flags")
    mx, complex_ = int(flags[0]) & 0xFF, bool(int(flags[0]) & 0x800)
    dims, at = _values(buffer, at)
    dims = tuple(int(d) for d in dims)
    if any(d < 0 for d in dims):
        raise MatUnsupported(f"negative dimensions {dims}")
    _, _, _, at = _tag(buffer, at)  # the array name
    count = math.prod(dims)
    room = start + nbytes - at  # bytes left in this element for its contents
    if mx in _MX_NUMERIC:
        if complex_:
            raise MatUnsupported("complex")
        data, at = _values(buffer, at)  # in its storage type, as loadmat(mat_dtype=False)
        return _squeezed(data.reshape(dims, order="F")), end
    if mx == _MX_CHAR:
        if len(dims) != 2 or (dims[0] > 1 and count):
            raise MatUnsupported("char matrix")
        kind, nbytes, start, _ = _tag(buffer, at)
        if kind not in _CHAR_CODECS:
            raise MatUnsupported(f"char data type {kind}")
        text = bytes(buffer[start : start + nbytes]).decode(_CHAR_CODECS[kind])
        return (text if count else np.array([])), end
    if mx == _MX_CELL:
        _check_room(count, 1, room, dims)
        cells = np.empty(count, dtype=object)
        for i in range(count):
            cells[i], at = _matrix(buffer, at, wanted)
        return _squeezed(cells.reshape(dims, order="F")), end
    if mx == _MX_STRUCT:
        length, at = _values(buffer, at)
        names_raw, at = _values(buffer, at)
        width = int(length[0])
        raw = bytes(names_raw)
        names = (
            [
                raw[i : i + width].split(b"\0", 1)[0].decode("ascii")
                for i in range(0, len(raw) - width + 1, width)
            ]
            if width
            else []
        )
        _check_room(count, len(names), start + nbytes - at, dims)
        structs = np.empty(count, dtype=object)
        for i in range(count):
            values = []
            for name in names:
                if wanted is None or name in wanted:
                    value, at = _matrix(buffer, at, wanted)
                else:
                    value, at = None, _tag(buffer, at)[3]  # skipped unread
                values.append(value)
            structs[i] = _Struct(names, values)
        return _squeezed(structs.reshape(dims, order="F")), end
    raise MatUnsupported(f"MATLAB class {mx}")


def _variable_name(buffer, offset: int) -> str:
    """The name of the miMATRIX element at ``offset``."""
    _, nbytes, start, _ = _tag(buffer, offset)
    if nbytes == 0:
        return ""
    _, at = _values(buffer, start)  # flags
    _, at = _values(buffer, at)  # dimensions
    name, _ = _values(buffer, at)
    return bytes(name).decode("ascii", "replace")


def read_variable(path, variable: str, fields=None):
    """``variable`` of a MAT v5 file, with only the struct ``fields`` read (``None``: all).

    Raises:
      MatUnsupported: not a little-endian v5 file of the expected layout, a corrupt stream,
        or no ``variable``.
    """
    try:
        return _read_variable(path, variable, fields)
    except (ValueError, IndexError, OverflowError, UnicodeDecodeError, struct.error) as error:
        raise MatUnsupported(f"{type(error).__name__}: {error}") from None


def _read_variable(path, variable: str, fields):
    """:func:`read_variable` without the translation of numpy's and struct's errors.

    Raises:
      MatUnsupported: not a little-endian v5 file of the expected layout, or no ``variable``.
    """
    from attention_center.core.files import not_a_file_reason

    reason = not_a_file_reason(path)  # a FIFO would block read_bytes
    if reason is not None:
        raise MatUnsupported(f"{path}: {reason}")
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise MatUnsupported(str(error)) from None
    if len(data) < 128 or data[126:128] != b"IM" or data[124:126] != b"\x00\x01":
        raise MatUnsupported("not a little-endian MAT v5 file")
    offset = 128
    while offset < len(data):
        kind, nbytes, start, end = _tag(data, offset)
        if kind == _MI_COMPRESSED:
            inner = _decompressed(data[start : start + nbytes])
            if variable is None:
                _matrix(inner, 0, None)  # every element walked, every size checked
            elif _variable_name(inner, 0) == variable:
                return _matrix(inner, 0, fields)[0]
            offset = start + nbytes  # compressed elements are not padded
        elif kind == _MI_MATRIX:
            if variable is None:
                _matrix(data, offset, None)
            elif _variable_name(data, offset) == variable:
                return _matrix(data, offset, fields)[0]
            offset = end
        else:
            raise MatUnsupported(f"top-level element type {kind}")
    if variable is None:
        return None
    raise MatUnsupported(f"no variable {variable!r}")


#: Largest decompressed element (a hostile few megabytes of zeros expand a thousandfold).
MAX_ELEMENT_BYTES = 1 << 30


def _decompressed(compressed: bytes) -> bytes:
    """A miCOMPRESSED element's contents, refused past :data:`MAX_ELEMENT_BYTES`."""
    inflater = zlib.decompressobj()
    try:
        inner = inflater.decompress(compressed, MAX_ELEMENT_BYTES)
    except zlib.error as error:
        raise MatUnsupported(f"compressed element: {error}") from None
    if inflater.unconsumed_tail:
        raise MatUnsupported(f"a compressed element expands past {MAX_ELEMENT_BYTES:,} bytes")
    if not inflater.eof:
        raise MatUnsupported("compressed element: incomplete or truncated stream")
    return inner


def check_file(path) -> None:
    """Reads every variable of a MAT v5 file, checking every element's type and size
    against the bytes that hold it (nothing allocated past what the file can hold).

    What it accepts, ``scipy.io.loadmat`` reads without trusting a bad size or type (the
    crash of a changed data-type byte, the 15 GiB of a hostile cell count): see
    :func:`ground_truth.readers.common.load_mat`, which reads the files it accepts in this
    process and runs scipy on the others in a child process.

    Raises:
      MatUnsupported: not a little-endian MAT v5 file of the layouts this reader knows
        (big-endian, v4, v7.3, sparse, complex, objects), or corrupt.
    """
    try:
        _read_variable(path, None, None)
    except (ValueError, IndexError, OverflowError, UnicodeDecodeError, struct.error) as error:
        raise MatUnsupported(f"{type(error).__name__}: {error}") from None
