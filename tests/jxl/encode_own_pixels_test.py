"""``encode`` hands cjxl the user's image, not the model's input (real cjxl, djxl, jxlinfo).

* Formats cjxl 0.7 cannot read (TIFF, WebP, ...) go through a temporary PNG: it must keep
  the image's alpha, ICC profile and 16-bit grey (it used to be the model's 8-bit RGB,
  composited on white, without the profile).
* cjxl 0.7 misreads grey PNGs of 1, 2 or 4 bits a pixel (the decode came out inverted or
  garbled, without an error): those go through an 8-bit PNG too.

Each output is decoded with djxl and compared with the source's pixels.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_jxl_tools
from PIL import Image

from attention_center.cli import main as cli

pytestmark = needs_jxl_tools

#: A real photo whose EXIF block carries a non-sRGB ICC profile ("Camera RGB Profile").
PROFILED_JPEG = Path("bubbleview") / "targets_salicon" / "COCO_train2014_000000491830.jpg"


def encode(images: Path, out: Path) -> int:
    return cli.main(
        [
            "attention-center",
            "encode",
            "--image_dir",
            str(images),
            "--output_dir",
            str(out),
            "--model",
            "default",
            "--noprogress",
        ]
    )


def djxl(jxl: Path) -> Image.Image:
    png = jxl.with_name(jxl.name + ".png")
    subprocess.run(["djxl", str(jxl), str(png), "--quiet"], check=True, capture_output=True)
    image = Image.open(png)
    image.load()
    return image


def jxlinfo(jxl: Path) -> str:
    return subprocess.run(["jxlinfo", str(jxl)], check=True, capture_output=True, text=True).stdout


def correlation(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def kodak_gray(kodak_paths) -> np.ndarray:
    """A real photo in grey, ``uint8 [128, 192]``."""
    with Image.open(kodak_paths[22]) as image:
        return np.asarray(image.convert("L").resize((192, 128), Image.Resampling.LANCZOS))


def test_alpha_icc_and_16_bits_survive_the_png_cjxl_reads(
    tmp_path, shared_data_dir, kodak_paths, capsys
):
    """RGBA TIFF and WebP, half transparent, one with a real camera profile; 16-bit grey."""
    with Image.open(shared_data_dir / PROFILED_JPEG) as profiled:
        icc = profiled.info["icc_profile"]
    with Image.open(kodak_paths[22]) as photo:
        rgba = np.asarray(photo.convert("RGBA").resize((192, 128))).copy()
    rgba[:, :64, 3] = 0
    rgba[:, 64:128, 3] = 128
    images = tmp_path / "in"
    images.mkdir()
    Image.fromarray(rgba).save(images / "a.tiff")
    Image.fromarray(rgba).save(images / "a.webp", lossless=True)
    Image.fromarray(rgba).save(images / "icc.webp", icc_profile=icc, lossless=True)
    ramp = np.linspace(0, 65535, 128 * 192).reshape(128, 192).astype(np.uint16)
    Image.fromarray(ramp).save(images / "g16.tiff")
    assert encode(images, tmp_path / "out") == 0
    assert "4 images: 4 encoded" in capsys.readouterr()[0]

    for name in ("a.tiff", "a.webp", "icc.webp"):
        jxl = tmp_path / "out" / f"{name}.jxl"
        info = jxlinfo(jxl)
        assert "8-bit RGBA" in info, info
        decoded = np.asarray(djxl(jxl))
        assert decoded.shape == (128, 192, 4)
        alpha_error = np.abs(decoded[..., 3].astype(int) - rgba[..., 3])
        assert alpha_error.max() <= 8 and alpha_error.mean() < 0.5  # lossy at the edges
        if name == "icc.webp":  # djxl decodes it to other colours, under another profile
            assert f"{len(icc)}-byte ICC profile" in info, info  # the camera profile, kept
            continue
        assert "sRGB" in info, info
        # The half-transparent part holds the photo's colours, not the photo composited on
        # white (60 levels lighter on average); cjxl drops the invisible part's colours.
        half, photo = decoded[:, 64:128, :3].astype(float), rgba[:, 64:128, :3]
        assert abs(half.mean() - photo.mean()) < 4
        assert correlation(half, photo) > 0.98
    info = jxlinfo(tmp_path / "out" / "g16.tiff.jxl")
    assert "16-bit Grayscale" in info, info


def _grey_png(path: Path, pixels: np.ndarray, bits: int) -> None:
    """A grey PNG of ``bits`` (2 or 4) a pixel, written chunk by chunk (Pillow writes grey
    PNGs at 1 or 8 bits only): ``pixels`` ``uint8`` quantized to ``2**bits`` levels."""
    levels = (pixels.astype(np.int64) * (2**bits - 1) + 127) // 255
    rows = b""
    for row in levels:
        text = "".join(format(int(v), f"0{bits}b") for v in row)
        text += "0" * (-len(text) % 8)
        rows += b"\0" + int(text, 2).to_bytes(len(text) // 8, "big")

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    height, width = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_grey_pngs_under_8_bits_are_encoded_as_they_look(tmp_path, kodak_gray, capsys):
    images = tmp_path / "in"
    images.mkdir()
    Image.fromarray(kodak_gray).convert("1").save(images / "g1.png")  # dithered, 1 bit
    for bits in (2, 4):
        _grey_png(images / f"g{bits}.png", kodak_gray, bits)
    Image.fromarray(kodak_gray).convert("RGB").quantize(16).save(images / "p4.png", bits=4)
    Image.fromarray(kodak_gray).save(images / "g8.png")  # cjxl reads it itself, as before
    for name in ("g1.png", "g2.png", "g4.png"):  # what cjxl is fed, as written
        assert Image.open(images / name).mode in ("1", "L")
    assert encode(images, tmp_path / "out") == 0
    assert "5 images: 5 encoded" in capsys.readouterr()[0]
    for name in ("g1.png", "g2.png", "g4.png", "p4.png", "g8.png"):
        with Image.open(images / name) as source:
            expected = np.asarray(source.convert("L"))
        decoded = np.asarray(djxl(tmp_path / "out" / f"{name}.jxl").convert("L"))
        assert decoded.shape == expected.shape
        # cjxl reading the 1- and 4-bit files itself gave -0.11 and -0.04 (2 bits: 0.48).
        assert correlation(decoded, expected) > 0.9, name
        assert abs(decoded.mean() - expected.mean()) < 8, name


def test_a_low_bit_png_is_sent_through_a_png_in_the_dry_run(tmp_path, kodak_gray, capsys):
    images = tmp_path / "in"
    images.mkdir()
    _grey_png(images / "g2.png", kodak_gray, 2)
    shutil.copy(images / "g2.png", images / "plain.png")
    Image.fromarray(kodak_gray).save(images / "plain.png")
    code = cli.main(
        [
            "attention-center",
            "encode",
            "--image_dir",
            str(images),
            "--model",
            "default",
            "--dry_run",
            "--noprogress",
        ]
    )
    assert code == 0
    lines = capsys.readouterr()[0].splitlines()
    [g2] = [line for line in lines if "g2.png" in line and "--center_x" in line]
    [plain] = [line for line in lines if "plain.png" in line and "--center_x" in line]
    assert g2.endswith("via PNG") and not plain.endswith("via PNG")
