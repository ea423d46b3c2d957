"""Shared pytest fixtures: where the real data lives, and the backend in use."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ATTENTION_CENTER_SHARED", REPO.parent / "shared"))
SHARED_DATA = SHARED / "data"
GOOGLE_MODEL = SHARED / "anchors" / "google_center.tflite"
FIXTURES = REPO / "tests" / "fixtures"


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


def _png_bomb(path: Path, size: int = 20000) -> None:
    """A valid 1-bit PNG of ``size x size`` pixels in ~50 kB (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    compressor = zlib.compressobj(9)
    rows = (b"\x00" * (1 + size // 8)) * 500
    idat = b"".join(compressor.compress(rows) for _ in range(size // 500)) + compressor.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size,
                                                                      1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def write_bad_images(folder: Path, real_jpeg: Path, real_png: Path) -> dict[str, bool]:
    """Writes the awkward files of issue 6 (made from real images); returns name -> usable.

    Unusable: truncated, corrupt, zero-byte, not an image, a 20000x20000
    decompression bomb. Usable (must give a centre / encode): 1x1, CMYK JPEG,
    16-bit grayscale PNG, animated GIF, WebP (which cjxl 0.7 cannot read).
    Unreadable permissions need another user: see the ``unprivileged`` fixture.
    """
    folder.mkdir(parents=True, exist_ok=True)
    data = real_jpeg.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[:len(data) // 2])
    corrupt = bytearray(data)
    rng = np.random.default_rng(0)
    for i in rng.integers(1000, len(data) - 10, 200):
        corrupt[i] = int(rng.integers(0, 256))
    (folder / "corrupt.jpg").write_bytes(bytes(corrupt))
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not an image\n")
    _png_bomb(folder / "bomb.png")
    photo = Image.open(real_png).convert("RGB")
    Image.new("RGB", (1, 1), (200, 30, 30)).save(folder / "one.png")
    photo.convert("CMYK").save(folder / "cmyk.jpg", quality=90)
    gray16 = np.asarray(photo.convert("L"), np.uint16) * 257
    Image.fromarray(gray16).save(folder / "gray16.png")
    small = photo.resize((192, 128))
    small.save(folder / "anim.gif", save_all=True, append_images=[small.rotate(180)],
               duration=100, loop=0)
    small.save(folder / "photo.webp")
    return {"truncated.jpg": False, "corrupt.jpg": False, "zero.jpg": False, "text.jpg": False,
            "bomb.png": False, "one.png": True, "cmyk.jpg": True, "gray16.png": True,
            "anim.gif": True, "photo.webp": True}


@pytest.fixture()
def bad_images(tmp_path, shared_data_dir, kodak_paths) -> tuple[Path, dict[str, bool], Path]:
    """``(folder, name -> usable, the real JPEG they were made from)``: see :func:`write_bad_images`."""
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

