"""Read PyTorch ``.pth`` / ``.pt`` state dicts into NumPy arrays without torch.

PyTorch has used two on-disk formats for ``torch.save``:

* **Legacy** (torch < 1.6, or ``_use_new_zipfile_serialization=False``): a
  plain stream of pickles::

      pickle(magic number 0x1950a86a20f9469cfc6c)
      pickle(protocol version 1001)
      pickle(sys info dict: little_endian, type_sizes)
      pickle(the object, with persistent ids for storages)
      pickle(list of storage keys, in the order their bytes follow)
      for each key: int64 little-endian element count, then the raw bytes

* **Zip** (torch >= 1.6 default): a zip archive ``<prefix>/data.pkl`` holding
  the pickled object, whose persistent ids name files ``<prefix>/data/<key>``
  holding each storage's raw bytes (no header), plus ``<prefix>/byteorder``
  (newer torch) and ``<prefix>/version``.

In both, tensors are pickled as ``torch._utils._rebuild_tensor_v2(storage,
storage_offset, size, stride, requires_grad, backward_hooks[, metadata])``
(or the older ``_rebuild_tensor``), parameters as
``torch._utils._rebuild_parameter(tensor, requires_grad, backward_hooks)``.
:func:`read_torch_state_dict` maps those callables to NumPy equivalents in a
restricted :class:`pickle.Unpickler` (``find_class`` allows only a fixed set of
globals, so a malicious file cannot run arbitrary code) and returns plain
``numpy`` arrays.

Only what state dicts of ordinary CNNs need is supported: dense CPU/CUDA
tensors of the standard numeric dtypes. Quantized/sparse tensors, whole pickled
``nn.Module`` objects and ``torch.jit`` archives raise :class:`ValueError`.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from typing import Any

import numpy as np

__all__ = ["read_torch_state_dict"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# torch legacy typed storage class name -> numpy dtype (little endian).
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
    # bfloat16 has no NumPy dtype: read the raw 16 bits, widened in _bf16_to_f32.
    "BFloat16Storage": np.dtype("<u2"),
}


class _StorageType:
    """Stand-in for ``torch.<X>Storage`` classes found in the pickle."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _Storage:
    """A storage whose bytes may not have been read yet (legacy format)."""

    def __init__(self, storage_type: _StorageType, key: str, numel: int):
        self.storage_type = storage_type
        self.key = key
        self.numel = int(numel)
        self.array: np.ndarray | None = None  # 1-D, filled later


class _StorageView:
    """Legacy ``view_metadata``: a window ``[offset, offset + size)`` of a root storage."""

    def __init__(self, root: _Storage, offset: int, size: int):
        self.root = root
        self.offset = int(offset)
        self.size = int(size)


class _LazyTensor:
    """A tensor recorded during unpickling, materialised once storages are read."""

    def __init__(self, storage, storage_offset, size, stride):
        self.storage = storage
        self.storage_offset = int(storage_offset)
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)

    def materialise(self) -> np.ndarray:
        storage, offset = self.storage, self.storage_offset
        if isinstance(storage, _StorageView):
            offset += storage.offset
            storage = storage.root
        flat = storage.array
        if flat is None:
            raise ValueError(f"storage {storage.key!r} was never read")
        if not self.size:
            needed = offset + 1
        else:
            if any(s == 0 for s in self.size):
                return np.zeros(self.size, flat.dtype)
            needed = offset + 1 + sum((n - 1) * st for n, st in zip(self.size, self.stride))
        if offset < 0 or needed > flat.size or any(st < 0 for st in self.stride):
            raise ValueError(
                f"tensor of size {self.size}, stride {self.stride}, offset {offset} "
                f"does not fit its storage of {flat.size} elements"
            )
        base = flat[offset:]
        item = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            base, shape=self.size, strides=tuple(st * item for st in self.stride), writeable=False
        )
        out = np.array(view, copy=True, order="C")
        if storage.storage_type.name == "BFloat16Storage":
            out = _bf16_to_f32(out)
        return out


def _bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype("<u4") << 16).view("<f4")


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
}
for _name in _STORAGE_DTYPES:
    _ALLOWED_GLOBALS[("torch", _name)] = _StorageType(_name)


class _TorchUnpickler(pickle.Unpickler):
    """Restricted unpickler: maps torch rebuild functions, refuses everything else."""

    def __init__(self, file, storages: dict[str, _Storage], load_storage=None):
        super().__init__(file)
        self._storages = storages
        self._load_storage = load_storage  # zip format: key -> bytes

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"unsupported global {module}.{name} (only plain tensor state dicts are supported)"
            ) from None

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        data = pid[1:]
        if len(data) == 4:  # zip: (storage_type, key, location, numel)
            storage_type, key, _location, numel = data
            view_metadata = None
        elif len(data) == 5:  # legacy: (storage_type, root_key, location, numel, view_metadata)
            storage_type, key, _location, numel, view_metadata = data
        else:
            raise pickle.UnpicklingError(f"unsupported storage persistent id {pid!r}")
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        key = str(key)
        storage = self._storages.get(key)
        if storage is None:
            storage = _Storage(storage_type, key, numel)
            if self._load_storage is not None:
                raw = self._load_storage(key)
                expected = storage.numel * storage_type.dtype.itemsize
                if len(raw) < expected:
                    raise pickle.UnpicklingError(
                        f"storage {key!r}: {len(raw)} bytes, expected {expected}"
                    )
                storage.array = np.frombuffer(raw, storage_type.dtype, count=storage.numel)
            self._storages[key] = storage
        if view_metadata is not None:
            _view_key, offset, view_size = view_metadata
            return _StorageView(storage, offset, view_size)
        return storage


def _materialise(obj):
    if isinstance(obj, _LazyTensor):
        return obj.materialise()
    if isinstance(obj, dict):
        return {k: _materialise(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialise(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialise(v) for v in obj)
    return obj


class _PlainUnpickler(pickle.Unpickler):
    """Unpickler for the plain-data header pickles: refuses every global."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in header")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("unexpected persistent id in header")


def _plain_load(f) -> Any:
    return _PlainUnpickler(f).load()


def _read_legacy(f) -> Any:
    magic = _plain_load(f)
    if magic != _LEGACY_MAGIC:
        raise ValueError("not a torch file (bad magic number)")
    protocol = _plain_load(f)
    if protocol != _LEGACY_PROTOCOL:
        raise ValueError(f"unsupported legacy protocol version {protocol!r}")
    sys_info = _plain_load(f)
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise ValueError("big-endian torch files are not supported")
    storages: dict[str, _Storage] = {}
    obj = _TorchUnpickler(f, storages).load()
    keys = _plain_load(f)
    if not isinstance(keys, list):
        raise ValueError("bad storage key list")
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise ValueError(f"storage key {key!r} listed but never referenced")
        header = f.read(8)
        if len(header) != 8:
            raise ValueError(f"truncated before storage {key!r}")
        (numel,) = struct.unpack("<q", header)
        if numel != storage.numel:
            raise ValueError(
                f"storage {key!r}: header says {numel} elements, pickle says {storage.numel}"
            )
        nbytes = numel * storage.storage_type.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise ValueError(f"truncated storage {key!r}: {len(raw)} of {nbytes} bytes")
        storage.array = np.frombuffer(raw, storage.storage_type.dtype)
    return obj


def _read_zip(path: os.PathLike | str) -> Any:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl_names = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
        if len(pkl_names) != 1:
            raise ValueError(f"expected one data.pkl in the zip archive, found {pkl_names}")
        prefix = pkl_names[0][: -len("data.pkl")]
        if prefix + "byteorder" in names:
            order = zf.read(prefix + "byteorder").decode().strip()
            if order != "little":
                raise ValueError(f"unsupported byteorder {order!r}")
        if any(n.startswith((prefix + "constants", prefix + "code/")) for n in names):
            raise ValueError("TorchScript archives are not supported (save a state_dict instead)")

        def load_storage(key: str) -> bytes:
            try:
                return zf.read(f"{prefix}data/{key}")
            except KeyError:
                raise pickle.UnpicklingError(f"missing storage file data/{key}") from None

        storages: dict[str, _Storage] = {}
        with zf.open(pkl_names[0]) as pf:
            return _TorchUnpickler(io.BytesIO(pf.read()), storages, load_storage).load()


def read_torch_state_dict(path: os.PathLike | str) -> dict[str, np.ndarray]:
    """Read a PyTorch state dict file into NumPy arrays, without importing torch.

    Args:
      path: a file written by ``torch.save(model.state_dict(), path)`` in
        either the legacy (pre-1.6) or the zip format. A checkpoint wrapping
        the state dict as ``{"state_dict": ...}`` or ``{"model": ...}`` is
        unwrapped.

    Returns:
      An insertion-ordered ``dict`` mapping each parameter/buffer name (e.g.
      ``"features.0.0.weight"``) to a C-contiguous ``np.ndarray`` with torch's
      shape and layout (conv weights ``[out, in, kh, kw]``, linear
      ``[out, in]``) and the storage's dtype (``float32`` for float weights;
      ``int64`` for ``num_batches_tracked``; bfloat16 is widened to
      ``float32``). Non-tensor entries are dropped.

    Raises:
      FileNotFoundError: when ``path`` does not exist.
      ValueError: naming ``path``, when the file is corrupt, truncated, or not
        a supported torch tensor state dict.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    try:
        if zipfile.is_zipfile(path):
            obj = _read_zip(path)
        else:
            with open(path, "rb") as f:
                obj = _read_legacy(f)
        obj = _materialise(obj)
    except ValueError as e:
        raise ValueError(f"cannot read torch file {path!r}: {e}") from e
    except Exception as e:  # noqa: BLE001 - any parse failure of untrusted bytes
        if isinstance(e, OSError) and not isinstance(e, zipfile.BadZipFile):
            raise
        raise ValueError(
            f"cannot read torch file {path!r}: corrupt or unsupported ({type(e).__name__}: {e})"
        ) from e

    for wrapper_key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and not any(isinstance(v, np.ndarray) for v in obj.values()):
            inner = obj.get(wrapper_key)
            if isinstance(inner, dict):
                obj = inner
    if not isinstance(obj, dict):
        raise ValueError(
            f"cannot read torch file {path!r}: expected a state dict, got {type(obj).__name__}"
        )
    out = {str(k): v for k, v in obj.items() if isinstance(v, np.ndarray)}
    if not out:
        raise ValueError(f"cannot read torch file {path!r}: no tensors found")
    return out
