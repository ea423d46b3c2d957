"""Tests for attention_center.encode with the real cjxl / djxl (libjxl-tools 0.7)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import attention_center
from attention_center.encode import (cjxl_command, displayed_to_coded, encode_directory,
                                     encoder_center, exif_orientation, find_encoder,
                                     find_images, output_path_for, run_encoder)
from attention_center.image import load_image
from attention_center.model_io import load_predictor

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("cjxl") is None or shutil.which("djxl") is None,
                                reason="cjxl/djxl (libjxl-tools) not on PATH")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def djxl(path: Path, out: Path, partial: bool = False) -> np.ndarray:
    command = ["djxl", str(path), str(out), "--quiet"] + (["--allow_partial_files"] if partial
                                                          else [])
    subprocess.run(command, check=True, capture_output=True)
    return np.asarray(Image.open(out).convert("RGB"))


@pytest.fixture(scope="module")
def centroid_predictor(tmp_path_factory):
    """A real Keras model (brightness centroid), saved and loaded as .keras."""
    import keras

    image = keras.Input((120, 160, 3), name="image")
    conv = keras.layers.Conv2D(1, 1, use_bias=False)
    weight_map = conv(image)
    conv.set_weights([np.full((1, 1, 3, 1), 1.0 / 3.0, np.float32)])
    center = attention_center.GravityCenter()(weight_map)
    path = tmp_path_factory.mktemp("model") / "centroid.keras"
    keras.Model(image, {"center": center, "weight_map": weight_map}).save(path)
    return load_predictor(path)


@pytest.fixture(scope="module")
def photo(kodak_paths) -> Image.Image:
    """A real photo, 768x512 (3x2 groups of 256x256)."""
    return Image.open(kodak_paths[4]).convert("RGB")


# --- orientation -----------------------------------------------------------------------------

@pytest.mark.parametrize("orientation", range(1, 9))
def test_displayed_to_coded_inverts_pillow_exif_transpose(orientation):
    stored = np.arange(5 * 7, dtype=np.int32).reshape(5, 7)  # each pixel names its position
    image = Image.fromarray(stored)
    image.getexif()[0x0112] = orientation
    displayed = np.asarray(ImageOps.exif_transpose(image))
    height, width = displayed.shape
    for y in range(height):
        for x in range(width):
            xs, ys = displayed_to_coded(x, y, (height, width), orientation)
            assert stored[ys, xs] == displayed[y, x], (x, y)


def test_encoder_center_rounds_and_clamps():
    assert encoder_center((10.4, 20.6), (100, 200)) == (10, 21)
    assert encoder_center((199.9, 99.7), (100, 200)) == (199, 99)   # never at the edge
    assert encoder_center((-3.0, 250.0), (100, 200)) == (0, 99)
    assert encoder_center((0.3, 0.2), (1, 1)) == (0, 0)
    # Orientation 6: displayed 100 high x 200 wide is stored 200 high x 100 wide.
    assert encoder_center((0.0, 0.0), (100, 200), 6) == (0, 199)
    assert encoder_center((0.0, 500.0), (100, 200), 6) == (99, 199)  # clamped in the stored frame
    assert encoder_center((199.0, 99.0), (100, 200), 6) == (99, 0)


def test_cjxl_refuses_a_centre_at_the_edge_and_takes_the_clamped_one(photo, tmp_path):
    # The reason for clamping: cjxl 0.7 fails on center_x == xsize.
    source = tmp_path / "p.png"
    photo.save(source)
    w, h = photo.size
    with pytest.raises(RuntimeError, match="center_x"):
        run_encoder(cjxl_command("cjxl", source, tmp_path / "a.jxl", (w, 0)), tmp_path / "a.jxl")
    assert not (tmp_path / "a.jxl").exists()
    run_encoder(cjxl_command("cjxl", source, tmp_path / "b.jxl", encoder_center((w, h), (h, w))),
                tmp_path / "b.jxl")
    assert djxl(tmp_path / "b.jxl", tmp_path / "b.png").shape == (h, w, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.jxl", "b.png", "p.png"]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_centre_first_group_is_where_the_displayed_centre_is(photo, tmp_path, orientation):
    """libjxl issue 1846: cjxl's centre refers to the stored pixels; ours are displayed.

    A real JPEG with an EXIF orientation, losslessly transcoded by cjxl with
    our centre near the displayed top-right corner: in a decoded prefix that
    corner is final and the opposite one is not; and the JPEG comes back
    bit-exact (group order 1 works with lossless JPEG transcoding).
    """
    exif = Image.Exif()
    exif[0x0112] = orientation
    source = tmp_path / f"o{orientation}.jpg"
    photo.save(source, quality=90, exif=exif.tobytes())
    assert exif_orientation(source) == orientation
    displayed = load_image(source)
    h, w = displayed.shape[:2]
    center = encoder_center((w - 60, 60), (h, w), orientation)
    output = tmp_path / "o.jxl"
    run_encoder(cjxl_command("cjxl", source, output, center), output)
    full = djxl(output, tmp_path / "full.png")
    assert full.shape == displayed.shape  # djxl applies the orientation
    data = output.read_bytes()
    (tmp_path / "part.jxl").write_bytes(data[:int(0.33 * len(data))])
    part = djxl(tmp_path / "part.jxl", tmp_path / "part.png", partial=True)
    near = psnr(full[:128, -128:], part[:128, -128:])
    far = psnr(full[-128:, :128], part[-128:, :128])
    assert near > 50 and far < 40, (near, far)
    subprocess.run(["djxl", str(output), str(tmp_path / "back.jpg"), "--quiet"], check=True,
                   capture_output=True)
    assert (tmp_path / "back.jpg").read_bytes() == source.read_bytes()


# --- one directory, real and bad images -------------------------------------------------------

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


def make_bad_images(folder: Path, real_jpeg: Path, real_png: Path) -> dict[str, bool]:
    """Writes the awkward files of issue 6; returns name -> whether it should encode."""
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


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_directory_with_bad_images(centroid_predictor, kodak_paths, shared_data_dir, tmp_path):
    images = tmp_path / "in"
    osie_jpeg = shared_data_dir / "osie" / "data" / "stimuli" / "1001.jpg"
    expected = make_bad_images(images, osie_jpeg, kodak_paths[0])
    (images / "sub" / "deeper").mkdir(parents=True)
    shutil.copy(osie_jpeg, images / "sub" / "deeper" / "1001.jpg")
    shutil.copy(kodak_paths[3], images / "sub" / "kodim04.png")
    (images / "notes.txt").write_text("ignored")
    expected.update({"sub/deeper/1001.jpg": True, "sub/kodim04.png": True})
    before = _digests(images)
    out = tmp_path / "out"

    summary = encode_directory(images, out, centroid_predictor, jobs=2, progress=False)

    by_name = {str(r.source.relative_to(images)): r for r in summary.results}
    assert set(by_name) == set(expected)
    for name, should_encode in expected.items():
        result = by_name[name]
        assert (result.status == "encoded") == should_encode, (name, result)
        output = out / f"{name}.jxl"
        assert output.exists() == should_encode, name
        if not should_encode:
            assert result.error, name
    assert "empty file" in by_name["zero.jpg"].error
    assert "decompression bomb" in by_name["bomb.png"].error
    assert "truncated" in by_name["truncated.jpg"].error
    assert "not an image" in by_name["text.jpg"].error
    assert not summary.ok and len(summary.failed) == 5
    assert [p.name for p in summary.ignored] == ["notes.txt"]
    text = summary.format()
    assert "12 images: 7 encoded, 5 failed" in text and "zero.jpg: empty file" in text
    assert summary.bytes_out == sum((out / f"{n}.jxl").stat().st_size
                                    for n, ok in expected.items() if ok)
    assert _digests(images) == before  # inputs untouched
    assert not [p for p in out.rglob(".*")]  # no temp files left
    # Outputs decode to the displayed image size; JPEG input is transcoded bit-exact.
    decoded = djxl(out / "sub" / "kodim04.png.jxl", tmp_path / "k.png")
    assert decoded.shape == load_image(kodak_paths[3]).shape
    subprocess.run(["djxl", str(out / "sub/deeper/1001.jpg.jxl"), str(tmp_path / "r.jpg")],
                   check=True, capture_output=True)
    assert (tmp_path / "r.jpg").read_bytes() == osie_jpeg.read_bytes()
    assert djxl(out / "cmyk.jpg.jxl", tmp_path / "c.png").shape == (512, 768, 3)
    # The centre cjxl got is the model's centre, clamped, in the stored image.
    one = by_name["one.png"]
    assert one.center == (0, 0) and one.command[3:9] == ["--group_order", "1", "--center_x",
                                                        "0", "--center_y", "0"]


def test_never_overwrites_an_input_and_resumes(centroid_predictor, kodak_paths, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(kodak_paths[0], folder / "a.png")
    shutil.copy(kodak_paths[1], folder / "a.png.png")   # what a.png would become with suffix png
    shutil.copy(kodak_paths[2], folder / "b.png")
    before = _digests(folder)
    summary = encode_directory(folder, folder, centroid_predictor, new_suffix="png",
                               progress=False)
    statuses = {r.source.name: (r.status, r.error) for r in summary.results}
    assert statuses["a.png"][0] == "failed" and "would overwrite an input" in statuses["a.png"][1]
    assert statuses["b.png"][0] == "encoded"
    after = _digests(folder)
    assert {k: after[k] for k in before} == before

    # Resume: existing outputs are left alone, a missing one is made.
    folder = tmp_path / "fresh"
    folder.mkdir()
    for i, name in enumerate(["a.png", "b.png", "c.png"]):
        shutil.copy(kodak_paths[i], folder / name)
    out = tmp_path / "out"
    first = encode_directory(folder, out, centroid_predictor, progress=False)
    assert first.count("encoded") == 3
    kept = out / "a.png.jxl"
    stamp = kept.stat().st_mtime_ns
    (out / "b.png.jxl").unlink()
    again = encode_directory(folder, out, centroid_predictor, skip_existing=True, progress=False)
    assert {r.source.name: r.status for r in again.results} == {
        "a.png": "skipped", "b.png": "encoded", "c.png": "skipped"}
    assert kept.stat().st_mtime_ns == stamp and (out / "b.png.jxl").is_file()


def test_failed_cjxl_leaves_no_output_and_reports_why(centroid_predictor, kodak_paths, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(kodak_paths[0], folder / "a.png")
    out = tmp_path / "out"
    summary = encode_directory(folder, out, centroid_predictor, progress=False,
                               extra_flags=["--distance=banana"])
    [result] = summary.results
    assert result.status == "failed" and "cjxl failed" in result.error
    assert "banana" in result.error
    assert not out.exists() or not list(out.rglob("*.*"))


def test_dry_run_writes_nothing_and_prints_the_commands(centroid_predictor, kodak_paths,
                                                        tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(kodak_paths[0], folder / "a.png")
    printed = []
    summary = encode_directory(folder, tmp_path / "out", centroid_predictor, dry_run=True,
                               progress=False, extra_flags=["-e", "1"], echo=printed.append)
    assert summary.results[0].status == "dry_run" and summary.ok
    assert not (tmp_path / "out").exists()
    [line] = printed
    x, y = summary.results[0].center
    assert f"--group_order 1 --center_x {x} --center_y {y}" in line and line.endswith("-e 1")


def test_helpers(tmp_path):
    assert find_encoder("./libjxl/build/tools/cjxl") == shutil.which("cjxl")  # Google's default
    with pytest.raises(FileNotFoundError, match="libjxl-tools"):
        find_encoder("no-such-cjxl-binary")
    assert output_path_for(tmp_path / "in/a/b.jpg", tmp_path / "in", tmp_path / "o") == \
        tmp_path / "o/a/b.jpg.jxl"
    # Flags the user gives win over the ones we inject.
    command = cjxl_command("cjxl", "a.png", "a.jxl", (3, 4), ["--center_x=9"], num_threads=1)
    assert command == ["cjxl", "a.png", "a.jxl", "--group_order", "1", "--center_y", "4",
                       "--num_threads", "1", "--center_x=9"]
    assert cjxl_command("cjxl", "a", "b", None) == ["cjxl", "a", "b"]
    assert cjxl_command("cjxl", "a", "b", "middle") == ["cjxl", "a", "b", "--group_order", "1"]
    (tmp_path / "d" / ".hidden").mkdir(parents=True)
    (tmp_path / "d" / ".hidden" / "x.png").write_bytes(b"")
    (tmp_path / "d" / "y.PNG").write_bytes(b"")
    (tmp_path / "d" / "z.jxl").write_bytes(b"")
    images, ignored = find_images(tmp_path / "d")
    assert [p.name for p in images] == ["y.PNG"] and [p.name for p in ignored] == ["z.jxl"]
    (tmp_path / "d" / "out").mkdir()
    (tmp_path / "d" / "out" / "y.PNG.png").write_bytes(b"")  # an output inside the input tree
    assert len(find_images(tmp_path / "d")[0]) == 2
    assert find_images(tmp_path / "d", exclude=[tmp_path / "d" / "out"])[0] == images


# --- the progressive benchmark, on one real image ---------------------------------------------

def test_progressive_benchmark_runs_on_real_fixations(shared_data_dir, tmp_path):
    """The benchmark end to end on one OSIE image, centre = mean of first fixations (ad hoc)."""
    scipy_io = pytest.importorskip("scipy.io")
    mat = scipy_io.loadmat(shared_data_dir / "osie" / "data" / "eye" / "fixations.mat",
                           squeeze_me=True, struct_as_record=False)["fixations"]
    entry = mat[0]
    # Second fixation of each subject (the first is the pre-stimulus centre), 1-based -> 0-based.
    points = [(s.fix_x[1] - 1, s.fix_y[1] - 1) for s in entry.subjects
              if np.size(s.fix_x) > 1]
    center = np.mean(points, axis=0).tolist()
    gt = tmp_path / "gt"
    gt.mkdir()
    row = {"image_id": f"osie/{Path(entry.img).stem}", "dataset": "osie", "source": "osie_eye",
           "split": "test", "data_dir": str(shared_data_dir),
           "image_path": f"osie/data/stimuli/{entry.img}", "center": center,
           "original_hw": [600, 800], "frame_path": "frames/x.jpg"}
    (gt / "index.jsonl").write_text(json.dumps(row) + "\n")
    out = tmp_path / "bench"
    command = [sys.executable, str(REPO / "benchmarks" / "progressive" / "run.py"),
               f"--gt_dir={gt}", f"--out_dir={out}", "--max_images=1", "--jobs=1",
               "--strategies=default,middle,truth", "--grid_step=0.1", "--refine_steps=3",
               "--nodocs"]
    run = subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    [image] = results["images"]
    assert set(image["results"]) == {"default", "middle", "truth"}
    for strategy, result in image["results"].items():
        assert result["bytes"] > 10_000 and set(result["regions"]) == {"256", "64"}
        for side, region in result["regions"].items():
            # The figure is bracketed by the grid: the first grid prefix at >= 50 dB (None =
            # identical to the full decode) and the one before it.
            grid, curve, needed = result["grid"], region["psnr"], region["fraction_needed"]
            first = next(k for k, v in enumerate(curve) if v is None or v >= 50)
            assert (grid[first - 1] if first else 0) < needed <= grid[first] + 1e-4, side
        # The small square inside the big one is final no later than it.
        assert result["regions"]["64"]["fraction_needed"] <= \
            result["regions"]["256"]["fraction_needed"]
    # The group order changes when the region sharpens.
    assert image["results"]["default"]["regions"]["256"]["psnr"] != \
        image["results"]["middle"]["regions"]["256"]["psnr"]
    assert "| truth" in (out / "table.md").read_text()
