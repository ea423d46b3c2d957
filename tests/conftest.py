"""Shared pytest fixtures: where the real data lives, and the backend in use."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

# The robustness corpus (tests/robustness/corpus.py) holds every generated hostile input;
# write_bad_images (issue 6's set, from real photos) is re-exported for the older tests.
from robustness.corpus import write_bad_images  # noqa: F401

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ATTENTION_CENTER_SHARED", REPO.parent / "shared"))
SHARED_DATA = SHARED / "data"
GOOGLE_MODEL = SHARED / "anchors" / "google_center.tflite"
FIXTURES = REPO / "tests" / "fixtures"

#: Skips a test where the real cjxl and djxl (Debian's libjxl-tools) are not on PATH.
needs_jxl_tools = pytest.mark.skipif(
    shutil.which("cjxl") is None or shutil.which("djxl") is None,
    reason="cjxl/djxl (libjxl-tools) not on PATH",
)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``../shared/data`` (the real eye-tracking and mouse data); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def google_model_path() -> Path:
    """Google's published model, read in place (never copied into the repo)."""
    if not GOOGLE_MODEL.is_file():
        pytest.skip(f"Google's model not found at {GOOGLE_MODEL}")
    return GOOGLE_MODEL


def live_cjxl(marker: str) -> list[int]:
    """Pids of running (not zombie) cjxl processes with ``marker`` in their command line."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if (
            argv
            and os.path.basename(argv[0]) == b"cjxl"
            and state != "Z"
            and any(marker.encode() in arg for arg in argv)
        ):
            found.append(int(entry))
    return found


@pytest.fixture(scope="session")
def kodak_paths(shared_data_dir) -> list[Path]:
    """The 24 Kodak PNGs (real photos, landscape and portrait)."""
    return sorted((shared_data_dir / "kodak").glob("*.png"))


def where_permissions_apply(command: list[str]) -> list[str]:
    """``command`` run where file permissions apply. As root (who lists a mode-000 folder
    anyway), under ``setpriv`` without the two capabilities that let root past them
    (``CAP_DAC_OVERRIDE``, ``CAP_DAC_READ_SEARCH``), still as root, so the checkout and its
    ``.venv`` stay readable wherever they are (a fresh clone under a mode-700 temporary
    folder is not readable by another user); skips where that is not possible."""
    if os.geteuid() != 0:
        return command
    wrapped = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    probe = (
        subprocess.run([*wrapped[:2], "true"], capture_output=True)
        if shutil.which("setpriv")
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE with setpriv")
    return wrapped


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]


#: Root's capabilities past file permissions: CAP_DAC_OVERRIDE (1), CAP_DAC_READ_SEARCH (2).
_DAC_CAPABILITIES = (1 << 1) | (1 << 2)


def _thread_capabilities(libc, data=None):
    """This thread's capability sets (Linux v3: two ``_CapData``); sets them if ``data``."""
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    if data is None:
        data = (_CapData * 2)()
        if libc.capget(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capget failed")
    elif libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
    return data


@pytest.fixture()
def unprivileged() -> Callable:
    """``unprivileged(fn, *args, **kwargs)`` runs ``fn`` where file permissions apply.

    Root reads a mode-000 file anyway, so as root ``fn`` runs, in this thread and in the
    threads it starts, without the two capabilities that let root past file permissions
    (``CAP_DAC_OVERRIDE``, ``CAP_DAC_READ_SEARCH``; restored afterwards), still as root:
    whatever ``fn`` imports stays readable, as for :func:`where_permissions_apply`
    (switching to user "nobody" failed on any module first imported inside ``fn`` from a
    checkout "nobody" may not read). As anyone else it runs as is. Skips off Linux.
    Whatever ``fn`` is to read or write must allow its owner (root) to: a mode-000 file is
    unreadable, a mode-0o555 folder unwritable.
    """

    def run(fn, *args, **kwargs):
        if os.geteuid() != 0:
            return fn(*args, **kwargs)
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            saved = _thread_capabilities(libc)
        except (OSError, AttributeError) as error:
            pytest.skip(f"running as root and cannot read this thread's capabilities: {error}")
        dropped = (_CapData * 2)()
        ctypes.memmove(dropped, saved, ctypes.sizeof(dropped))
        dropped[0].effective &= ~_DAC_CAPABILITIES
        _thread_capabilities(libc, dropped)
        try:
            return fn(*args, **kwargs)
        finally:
            _thread_capabilities(libc, saved)

    return run


@pytest.fixture()
def bad_images(tmp_path, shared_data_dir, kodak_paths) -> tuple[Path, dict[str, bool], Path]:
    """``(folder, name -> usable, the real JPEG they were made from)``: see
    :func:`write_bad_images`."""
    jpeg = shared_data_dir / "osie" / "data" / "stimuli" / "1001.jpg"
    folder = tmp_path / "bad_images"
    return folder, write_bad_images(folder, jpeg, kodak_paths[0]), jpeg


def save_centroid_model(path: Path, frame_hw=(120, 160)) -> Path:
    """Saves a real ``.keras`` model whose centre is the brightness centroid of its input.

    One 1x1 convolution (weights 1/3: the mean of R, G, B) makes the weighting map,
    :class:`attention_center.GravityCenter` its centre; outputs ``center`` and
    ``weight_map``. Its centre is predictable from the pixels, so tests can check where
    the CLI and the encoder put it.
    """
    import keras

    import attention_center

    image = keras.Input((*frame_hw, 3), name="image")
    conv = keras.layers.Conv2D(1, 1, use_bias=False)
    weight_map = conv(image)
    conv.set_weights([np.full((1, 1, 3, 1), 1.0 / 3.0, np.float32)])
    center = attention_center.GravityCenter()(weight_map)
    keras.Model(image, {"center": center, "weight_map": weight_map}).save(path)
    return Path(path)
