"""Shared pytest fixtures: where the real data lives, and the backend in use."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def kodak_paths(shared_data_dir) -> list[Path]:
    """The 24 Kodak PNGs (real photos, landscape and portrait)."""
    return sorted((shared_data_dir / "kodak").glob("*.png"))


#: uid/gid of "nobody", for checks that need file permissions enforced.
NOBODY = 65534


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


@pytest.fixture()
def unprivileged() -> Callable:
    """``unprivileged(fn, *args, **kwargs)`` runs ``fn`` where file permissions apply.

    Root reads a mode-000 file anyway, so as root ``fn`` runs with the
    effective uid/gid of "nobody" (switched back afterwards); as anyone else it
    runs as is. Skips when root may not switch (no CAP_SETUID in a container).
    Whatever ``fn`` reads or writes must be open to "nobody" (e.g. a
    ``tempfile.mkdtemp()`` folder chmod-ed 0o755 / 0o777, not ``tmp_path``).
    """

    def run(fn, *args, **kwargs):
        if os.geteuid() != 0:
            return fn(*args, **kwargs)
        try:
            os.setegid(NOBODY)
            os.seteuid(NOBODY)
        except PermissionError as error:
            os.setegid(0)
            pytest.skip(f"running as root and cannot drop to uid {NOBODY}: {error}")
        try:
            return fn(*args, **kwargs)
        finally:
            os.seteuid(0)
            os.setegid(0)

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
