"""The robustness corpus (issue 17): every hostile input the commands meet, made by code.

Nothing here is a stored file: each function writes its part of the corpus into a folder
the test owns (small files, generated in well under a second), and returns what each file
is expected to do, so that every command's test checks the same facts:

* :func:`write_image_corpus`: images people really have (EXIF-rotated JPEG, 1x1, CMYK,
  16-bit gray, palette with transparency, animated GIF, WebP, TIFF, BMP, RGBA, names with
  spaces, quotes and a leading dash) beside files that must fail alone, each with the
  words its error must contain (truncated, corrupt, zero-byte, not an image, a
  14000x14000 decompression bomb of 30 kB, a symbolic link loop, a dangling link);
* :func:`write_unreadable` (mode 000; see the ``unprivileged`` fixture);
* :func:`write_records_corpus`: the generic CSV/JSONL point files (good, with NaN and
  out-of-image points; empty, blank, header only, 0-byte, bad JSON, bad header, only
  NaN) and :func:`write_corrupt_mat` (an OSIE layout whose ``fixations.mat`` is garbage);
* :func:`write_build`: a ground-truth build (``index.jsonl`` + frames) with, on request, a
  line that is not JSON, a missing frame and a corrupt one;
* :func:`write_model_corpus`: ``.keras`` files that are not models (truncated zip, text,
  0 bytes, a link loop);
* issue 26: :func:`write_flipped_mat` (one byte changed: scipy's reader crashed),
  :func:`write_huge_cell_mat` (184 bytes claiming a 1 x 2e9 cell array) and
  :func:`write_lying_jpeg` (a few hundred bytes whose header says 65500x65500).

:func:`write_bad_images` is the older, smaller set made from real photos (issue 6),
kept for the tests that use it through ``tests/conftest.py``.

Images are ``uint8 [h, w, 3]`` RGB; points ``(x, y)`` are 0-based pixel centres of the
image as displayed (the project's convention).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

__all__ = [
    "Case",
    "SMALL_HW",
    "digests",
    "png_bomb",
    "synthetic_photo",
    "write_bad_images",
    "write_build",
    "write_corrupt_mat",
    "write_flipped_mat",
    "write_huge_cell_mat",
    "write_image_corpus",
    "write_lying_jpeg",
    "write_model_corpus",
    "write_records_corpus",
    "write_unreadable",
]

#: ``(h, w)`` of the corpus photos: small, so every command runs the corpus in seconds.
SMALL_HW = (96, 128)


@dataclasses.dataclass(frozen=True)
class Case:
    """What one corpus file must do.

    Attributes:
      usable: it must be processed (a centre, an encoded file, records).
      reason: for an unusable file, words its error message must contain.
      note: for a usable file, words of the remark it must get (e.g. ``"animated"``).
    """

    usable: bool
    reason: Optional[str] = None
    note: Optional[str] = None


def synthetic_photo(hw=SMALL_HW, seed: int = 0, spot=(0.7, 0.3)) -> np.ndarray:
    """A photo-like ``uint8 [h, w, 3]``: colour gradients, a bright spot, a little noise.

    Args:
      hw: ``(h, w)``.
      seed: the noise.
      spot: ``(x, y)`` of the bright spot, as fractions of the width and height.
    """
    h, w = int(hw[0]), int(hw[1])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = xx / max(w - 1, 1), yy / max(h - 1, 1)
    base = np.stack([60 + 100 * u, 50 + 90 * v, 140 - 80 * u * v], -1)
    blob = 110 * np.exp(-((u - spot[0]) ** 2 + (v - spot[1]) ** 2) / 0.01)
    noise = np.random.default_rng(seed).normal(0, 4, (h, w, 3))
    return np.clip(base + blob[..., None] + noise, 0, 255).astype(np.uint8)


def png_bomb(path: Path, size: int = 14000) -> Path:
    """A valid 1-bit PNG of ``size x size`` pixels in a few tens of kB (a decompression bomb).

    Every row is zero bytes, so deflate packs ``size * (1 + size / 8)`` bytes into ~0.1% of
    that: the header promises ``size**2`` pixels (196 MP for 14000, 588 MB as RGB).
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    compressor = zlib.compressobj(9)
    rows_per_piece = 500
    piece = (b"\x00" * (1 + -(-size // 8))) * rows_per_piece
    parts = [compressor.compress(piece) for _ in range(size // rows_per_piece)]
    parts.append(compressor.compress((b"\x00" * (1 + -(-size // 8))) * (size % rows_per_piece)))
    idat = b"".join(parts) + compressor.flush()
    header = struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0)
    Path(path).write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return Path(path)


def _jpeg_bytes(pixels: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90, **kwargs)
    return buffer.getvalue()


def _corrupted(data: bytes, seed: int = 0, start: int = 700, rate: float = 0.05) -> bytes:
    """``data`` with a share of its bytes after ``start`` replaced (headers left intact)."""
    rng = np.random.default_rng(seed)
    out = bytearray(data)
    for i in range(start, len(out)):
        if rng.random() < rate:
            out[i] = int(rng.integers(0, 256))
    return bytes(out)


def _write_usable(folder: Path, photo: np.ndarray) -> dict[str, Case]:
    """The images that must be processed (with a note where they deserve one)."""
    image = Image.fromarray(photo)
    image.save(folder / "photo.png")
    (folder / "photo.jpg").write_bytes(_jpeg_bytes(photo))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: displayed 96x128 is stored 128x96
    (folder / "rotated.jpg").write_bytes(
        _jpeg_bytes(np.ascontiguousarray(np.rot90(photo, 1)), exif=exif.tobytes())
    )
    Image.new("RGB", (1, 1), (200, 30, 30)).save(folder / "one.png")
    image.convert("CMYK").save(folder / "cmyk.jpg", quality=90)
    gray16 = np.asarray(image.convert("L"), np.uint16) * 257
    Image.fromarray(gray16).save(folder / "gray16.png")
    palette = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.save(folder / "palette.png", transparency=0)
    image.save(
        folder / "anim.gif", save_all=True, append_images=[image.rotate(180)], duration=100, loop=0
    )
    image.save(folder / "photo.webp")
    image.save(folder / "photo.tiff")
    image.save(folder / "photo.bmp")
    rgba = np.concatenate([photo, np.full((*photo.shape[:2], 1), 128, np.uint8)], -1)
    Image.fromarray(rgba).save(folder / "rgba.png")
    image.save(folder / 'it\'s a "quoted" $photo.png')
    image.save(folder / "-dash.png")
    names = [
        "photo.png",
        "photo.jpg",
        "rotated.jpg",
        "one.png",
        "cmyk.jpg",
        "gray16.png",
        "palette.png",
        "photo.webp",
        "photo.tiff",
        "photo.bmp",
        "rgba.png",
        'it\'s a "quoted" $photo.png',
        "-dash.png",
    ]
    cases = {name: Case(True) for name in names}
    cases["anim.gif"] = Case(True, note="animated: the first of 2 frames was used")
    return cases


def _write_unusable(folder: Path, photo: np.ndarray) -> dict[str, Case]:
    """The files that must fail alone, each with the words of its error."""
    data = _jpeg_bytes(photo)
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "corrupt.jpg").write_bytes(_corrupted(data))
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not an image\n")
    png_bomb(folder / "bomb.png", 14000)
    os.symlink("loop.jpg", folder / "loop.jpg")  # a link to itself
    os.symlink("no_such_target.png", folder / "dangling.png")
    return {
        "truncated.jpg": Case(False, "truncated"),
        "corrupt.jpg": Case(False, "corrupt"),
        "zero.jpg": Case(False, "empty file"),
        "text.jpg": Case(False, "not an image"),
        "bomb.png": Case(False, "decompression bomb"),
        "loop.jpg": Case(False, "symbolic link loop"),
        "dangling.png": Case(False, "broken symbolic link"),
    }


def write_image_corpus(folder: Path, seed: int = 0) -> dict[str, Case]:
    """Writes the image corpus into ``folder`` (created); returns file name -> :class:`Case`.

    Usable: ``photo.png``, ``photo.jpg``, ``rotated.jpg`` (EXIF 6), ``one.png`` (1x1),
    ``cmyk.jpg``, ``gray16.png``, ``palette.png`` (16 colours, one transparent),
    ``anim.gif`` (2 frames: note), ``photo.webp``, ``photo.tiff``, ``photo.bmp`` (cjxl 0.7
    reads none of the last three: they go through a PNG), ``rgba.png``, a name with
    spaces, quotes and ``$``, and ``-dash.png``. Unusable: truncated, corrupt, zero-byte,
    text, a 14000x14000 bomb (header checked, never decoded), a link loop, a dangling
    link. Also ``notes.txt`` (not an image suffix: ignored, not an error).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    photo = synthetic_photo(seed=seed)
    cases = _write_usable(folder, photo)
    cases.update(_write_unusable(folder, photo))
    (folder / "notes.txt").write_text("not an image suffix: ignored\n")
    return cases


def write_unreadable(folder: Path, seed: int = 1) -> Path:
    """``folder/locked.png``, a real image with mode 000 (unreadable except to root)."""
    path = Path(folder) / "locked.png"
    Image.fromarray(synthetic_photo(seed=seed)).save(path)
    path.chmod(0)
    return path


def digests(folder: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every regular file under ``folder`` (links not followed).

    Files we may not read are named with their mode instead, so that a mode-000 input
    is compared too.
    """
    folder = Path(folder)
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            out[str(path.relative_to(folder))] = "-> " + os.readlink(path)
        elif path.is_file():
            try:
                out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
            except PermissionError:
                out[str(path.relative_to(folder))] = f"mode {path.stat().st_mode:o}"
    return out


# --- ground-truth sources ------------------------------------------------------------------

_HEADER = "image,observer,order,x,y,source\n"


def _point_rows(image: str, hw) -> list[dict]:
    """Rows of two observers looking near the upper right, one NaN and one outside point."""
    h, w = hw
    rows = []
    for observer, (dx, dy) in enumerate([(0, 0), (6, 4)]):
        for order, (fx, fy) in enumerate([(0.5, 0.5), (0.7, 0.3), (0.72, 0.32), (0.68, 0.28)]):
            rows.append(
                {
                    "image": image,
                    "observer": str(observer),
                    "order": order,
                    "x": fx * (w - 1) + dx,
                    "y": fy * (h - 1) + dy,
                    "source": "eye",
                    "dataset": "corpus",
                }
            )
    rows.append(
        {
            "image": image,
            "observer": "0",
            "order": 9,
            "x": float("nan"),
            "y": 3.0,
            "source": "eye",
            "dataset": "corpus",
        }
    )
    rows.append(
        {
            "image": image,
            "observer": "1",
            "order": 9,
            "x": w + 40.0,
            "y": 3.0,
            "source": "eye",
            "dataset": "corpus",
        }
    )
    return rows


def _jsonl(rows) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)  # NaN as JSON's NaN extension


def write_records_corpus(folder: Path) -> dict[str, Case]:
    """Writes generic point files (and the image they refer to) into ``folder``.

    Returns file name -> :class:`Case` (``usable``: it yields records). ``good.jsonl``
    and ``good.csv`` point at ``stimulus.png`` (:data:`SMALL_HW`); each has one NaN and one
    out-of-image point, dropped and counted.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(synthetic_photo(seed=3)).save(folder / "stimulus.png")
    rows = _point_rows("stimulus.png", SMALL_HW)
    (folder / "good.jsonl").write_text(_jsonl(rows))
    (folder / "good.csv").write_text(
        _HEADER
        + "".join(
            f"{r['image']},{r['observer']},{r['order']},{r['x']},{r['y']},{r['source']}\n"
            for r in rows
        )
    )
    (folder / "empty.jsonl").write_bytes(b"")
    (folder / "blank.jsonl").write_text("\n   \n\n")
    (folder / "header_only.csv").write_text(_HEADER)
    (folder / "zero.csv").write_bytes(b"")
    (folder / "bad_json.jsonl").write_text(_jsonl(rows[:1]) + "{not json\n")
    (folder / "bad_header.csv").write_text("img,x,y\nstimulus.png,1,2\n")
    nan_only = [dict(r, x=float("nan")) for r in rows]
    (folder / "nan_only.jsonl").write_text(_jsonl(nan_only))
    (folder / "missing_image.jsonl").write_text(_jsonl(_point_rows("no_such.png", SMALL_HW)))
    (folder / "latin1.csv").write_bytes(
        _HEADER.encode() + "caf\xe9.png,1,0,1,1,eye\n".encode("latin-1")
    )
    return {
        "good.jsonl": Case(True),
        "good.csv": Case(True),
        "empty.jsonl": Case(False, "empty file"),
        "blank.jsonl": Case(False, "no JSON lines"),
        "header_only.csv": Case(False, "a header and no data rows"),
        "zero.csv": Case(False, "empty file"),
        "bad_json.jsonl": Case(False, "line 2: not valid JSON"),
        "bad_header.csv": Case(False, "header is missing"),
        "nan_only.jsonl": Case(False, "no records"),
        "missing_image.jsonl": Case(False, "image file not found"),
        "latin1.csv": Case(False, "not UTF-8"),
    }


def write_corrupt_mat(data_dir: Path) -> Path:
    """``data_dir/osie/data/eye/fixations.mat`` that is not a MATLAB file; returns it."""
    path = Path(data_dir) / "osie" / "data" / "eye" / "fixations.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"MATLAB 5.0 MAT-file, truncated garbage" + bytes(range(256)) * 4)
    return path


# --- ground-truth builds -------------------------------------------------------------------


def _index_row(
    image_id: str, split: str, frame_path: str, image_path: str, data_dir: Path, hw=SMALL_HW
) -> dict:
    """One ``index.jsonl`` row (fields of :mod:`attention_center.core.ground_truth_index`)."""
    h, w = hw
    center = [0.7 * (w - 1), 0.3 * (h - 1)]
    points = [center, [center[0] + 3, center[1] + 2], [center[0] - 2, center[1] + 1]]
    scale = min(480 / h, 640 / w)
    pad_x, pad_y = (640 - w * scale) / 2, (480 - h * scale) / 2
    to_frame = lambda p: [(p[0] + 0.5) * scale - 0.5 + pad_x, (p[1] + 0.5) * scale - 0.5 + pad_y]  # noqa: E731
    return {
        "image_id": image_id,
        "dataset": "corpus",
        "source": "corpus_eye",
        "modality": "eye",
        "split": split,
        "data_dir": str(data_dir),
        "image_path": image_path,
        "original_hw": [h, w],
        "frame_hw": [480, 640],
        "frame_path": frame_path,
        "center": center,
        "center_frame": to_frame(center),
        "points": points,
        "points_frame": [to_frame(p) for p in points],
        "observer_of_point": [0, 1, 1],
        "num_observers": 2,
        "fallback": None,
    }


def write_build(
    folder: Path,
    num_images: int = 6,
    bad_line: bool = False,
    missing_frame: bool = False,
    corrupt_frame: bool = False,
    corrupt_image: bool = False,
) -> dict:
    """A small ground-truth build: originals, 480x640 frames and ``index.jsonl``.

    Images alternate between the splits ``test`` and ``train`` (then ``val``). Options
    damage it the ways a copied or half-written build is damaged:

    Args:
      folder: the build folder (created); originals go to ``folder/images``.
      num_images: good images.
      bad_line: line 2 of ``index.jsonl`` is not JSON.
      missing_frame: one more record whose frame file does not exist.
      corrupt_frame: one more record whose frame is garbage bytes.
      corrupt_image: one more ``test`` record whose original image is garbage (its frame
        is fine): what ``evaluate`` reads.
    Returns:
      ``{"index": path, "good": [image_id...], "bad": {"what": path}}``.
    """
    from attention_center.core.images import resize_with_pad

    folder = Path(folder)
    (folder / "frames").mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows, good, bad = [], [], {}
    splits = ["test", "train", "val"]
    for i in range(num_images):
        photo = synthetic_photo(seed=10 + i, spot=(0.3 + 0.08 * i, 0.6 - 0.05 * i))
        Image.fromarray(photo).save(folder / "images" / f"img{i}.png")
        frame, _ = resize_with_pad(photo)
        frame_pixels = (frame * 255 + 0.5).astype(np.uint8)
        Image.fromarray(frame_pixels).save(folder / "frames" / f"img{i}.jpg")
        rows.append(
            _index_row(
                f"corpus/img{i}", splits[i % 3], f"frames/img{i}.jpg", f"images/img{i}.png", folder
            )
        )
        good.append(f"corpus/img{i}")
    if missing_frame:
        rows.append(
            _index_row("corpus/missing", "train", "frames/missing.jpg", "images/img0.png", folder)
        )
        bad["missing_frame"] = folder / "frames" / "missing.jpg"
    if corrupt_frame:
        (folder / "frames" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")
        rows.append(
            _index_row("corpus/corrupt", "train", "frames/corrupt.jpg", "images/img0.png", folder)
        )
        bad["corrupt_frame"] = folder / "frames" / "corrupt.jpg"
    if corrupt_image:
        (folder / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
        rows.append(
            _index_row("corpus/broken", "test", "frames/img0.jpg", "images/broken.png", folder)
        )
        bad["corrupt_image"] = folder / "images" / "broken.png"
    lines = [json.dumps(row) for row in rows]
    if bad_line:
        lines.insert(1, '{"image_id": "corpus/x", "frame_path": ')  # cut short
        bad["bad_line"] = folder / "index.jsonl"
    (folder / "index.jsonl").write_text("\n".join(lines) + "\n")
    return {"index": folder / "index.jsonl", "good": good, "bad": bad}


# --- models ------------------------------------------------------------------------------------


def write_model_corpus(folder: Path, real_model: Path) -> dict[str, Case]:
    """``.keras`` files that are not models, made from a real one; returns name -> Case."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = Path(real_model).read_bytes()
    (folder / "truncated.keras").write_bytes(data[: len(data) // 2])
    (folder / "text.keras").write_text("not a model\n")
    (folder / "empty.keras").write_bytes(b"")
    os.symlink("loop.keras", folder / "loop.keras")
    return {
        "truncated.keras": Case(False, "not a valid .keras file"),
        "text.keras": Case(False, "not a valid .keras file"),
        "empty.keras": Case(False, "not a valid .keras file"),
        "loop.keras": Case(False, "symbolic link loop"),
    }


# --- the older set, from real photos (issue 6) ----------------------------------------------


def write_bad_images(folder: Path, real_jpeg: Path, real_png: Path) -> dict[str, bool]:
    """Writes the awkward files of issue 6 (made from real images); returns name -> usable.

    Unusable: truncated, corrupt, zero-byte, not an image, a 20000x20000
    decompression bomb. Usable (must give a centre / encode): 1x1, CMYK JPEG,
    16-bit grayscale PNG, animated GIF, WebP (which cjxl 0.7 cannot read).
    Unreadable permissions need another user: see the ``unprivileged`` fixture.
    """
    folder.mkdir(parents=True, exist_ok=True)
    data = real_jpeg.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    rng = np.random.default_rng(0)
    for i in rng.integers(1000, len(data) - 10, 200):
        corrupt[i] = int(rng.integers(0, 256))
    (folder / "corrupt.jpg").write_bytes(bytes(corrupt))
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not an image\n")
    png_bomb(folder / "bomb.png", 20000)
    photo = Image.open(real_png).convert("RGB")
    Image.new("RGB", (1, 1), (200, 30, 30)).save(folder / "one.png")
    photo.convert("CMYK").save(folder / "cmyk.jpg", quality=90)
    gray16 = np.asarray(photo.convert("L"), np.uint16) * 257
    Image.fromarray(gray16).save(folder / "gray16.png")
    small = photo.resize((192, 128))
    small.save(
        folder / "anim.gif", save_all=True, append_images=[small.rotate(180)], duration=100, loop=0
    )
    small.save(folder / "photo.webp")
    return {
        "truncated.jpg": False,
        "corrupt.jpg": False,
        "zero.jpg": False,
        "text.jpg": False,
        "bomb.png": False,
        "one.png": True,
        "cmyk.jpg": True,
        "gray16.png": True,
        "anim.gif": True,
        "photo.webp": True,
    }


# --- issue 26: hostile files that crashed a reader or made it allocate gigabytes ---------------


def _osie_fixations_mat(image_name: str) -> bytes:
    """An uncompressed MAT v5 ``fixations`` (OSIE's layout: ``img`` and ``subjects`` with
    ``fix_x``, ``fix_y``, ``fix_duration``, MATLAB's 1-based pixels) for one image of
    :data:`SMALL_HW`: two observers looking near (0.7, 0.3) of the image."""
    import scipy.io

    h, w = SMALL_HW
    subjects = np.zeros(
        (2,), dtype=[("fix_x", object), ("fix_y", object), ("fix_duration", object)]
    )
    for s in range(2):
        x = np.array([0.5, 0.7, 0.71, 0.69]) * (w - 1) + 1 + s
        y = np.array([0.5, 0.3, 0.31, 0.29]) * (h - 1) + 1 + s
        subjects[s] = (x, y, np.array([210.0, 250.0, 300.0, 120.0]))
    fixations = np.zeros((1,), dtype=[("img", object), ("subjects", object)])
    fixations[0] = (image_name, subjects)
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"fixations": fixations}, do_compression=False)
    return buffer.getvalue()


def write_flipped_mat(data_dir: Path, flip: bool = True) -> Path:
    """An OSIE layout (``data_dir/osie``: one stimulus, ``data/eye/fixations.mat``) whose
    ``fixations.mat`` has **one byte changed**: the data type of its first numeric array
    (``fix_x``: miDOUBLE, 9) becomes 0x84, a type MATLAB does not have. scipy's C reader
    indexes a table with it: a segmentation fault (the whole program exits 139).

    Args:
      flip: change the byte (``False``: the same file, intact, which builds).
    Returns:
      the ``.mat`` file.
    """
    root = Path(data_dir) / "osie" / "data"
    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    (root / "eye").mkdir(parents=True, exist_ok=True)
    Image.fromarray(synthetic_photo(seed=5)).save(root / "stimuli" / "1001.png")
    data = bytearray(_osie_fixations_mat("1001.png"))
    h, w = SMALL_HW
    first_x = struct.pack("<d", 0.5 * (w - 1) + 1)
    tag = data.index(first_x) - 8  # the miDOUBLE tag of fix_x: type (4 bytes), size
    assert data[tag] == 9, data[tag : tag + 8]
    if flip:
        data[tag] = 0x84
    path = root / "eye" / "fixations.mat"
    path.write_bytes(bytes(data))
    return path


def write_huge_cell_mat(path: Path, variable: str = "bubble") -> Path:
    """A 184-byte MAT v5 file whose one variable claims to be a 1 x 2,000,000,000 cell array
    (16 GB of pointers before any cell is read) and holds no cell at all."""
    header = b"MATLAB 5.0 MAT-file, hostile".ljust(116, b" ") + b"\0" * 8 + b"\x00\x01IM"
    body = struct.pack("<II", 6, 8) + struct.pack("<II", 1, 0)  # array flags: mxCELL_CLASS
    body += struct.pack("<II", 5, 8) + struct.pack("<ii", 1, 2_000_000_000)  # dimensions
    name = variable.encode("ascii")
    body += struct.pack("<II", 1, len(name)) + name.ljust(-(-len(name) // 8) * 8, b"\0")
    Path(path).write_bytes(header + struct.pack("<II", 14, len(body)) + body)
    return Path(path)


def write_lying_jpeg(path: Path, size: int = 65500) -> Path:
    """A real 16x16 JPEG (a few hundred bytes) whose frame header says ``size x size``:
    libjpeg decodes it without an error, padding 4.3 billion pixels with grey."""
    buffer = io.BytesIO()
    Image.fromarray(synthetic_photo(hw=(16, 16))).save(buffer, "JPEG", quality=50)
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, size, size)  # height, width
    Path(path).write_bytes(bytes(data))
    return Path(path)
