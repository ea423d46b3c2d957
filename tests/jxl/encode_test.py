"""Tests for attention_center.jxl (encoder, batch) with the real cjxl / djxl (libjxl-tools 0.7)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    needs_jxl_tools,
    save_centroid_model,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from attention_center.core.files import find_images
from attention_center.core.frames import frame_transform
from attention_center.core.images import load_image
from attention_center.core.orientation import read_orientation as exif_orientation
from attention_center.core.orientation import stored_hw
from attention_center.inference.predictors import load_predictor
from attention_center.jxl.batch import encode_directory, output_path_for
from attention_center.jxl.encoder import (
    EncoderFlagsError,
    cjxl_command,
    encoder_center,
    find_encoder,
    run_encoder,
)

pytestmark = needs_jxl_tools


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def djxl(path: Path, out: Path, partial: bool = False) -> np.ndarray:
    command = ["djxl", str(path), str(out), "--quiet"] + (
        ["--allow_partial_files"] if partial else []
    )
    subprocess.run(command, check=True, capture_output=True)
    return np.asarray(Image.open(out).convert("RGB"))


@pytest.fixture(scope="module")
def centroid_predictor(tmp_path_factory):
    """A real Keras model (brightness centroid), saved and loaded as .keras."""
    return load_predictor(save_centroid_model(tmp_path_factory.mktemp("model") / "centroid.keras"))


@pytest.fixture(scope="module")
def photo(kodak_paths) -> Image.Image:
    """A real photo, 768x512 (3x2 groups of 256x256)."""
    return Image.open(kodak_paths[4]).convert("RGB")


# --- orientation (the mapping itself: tests/core/orientation_test.py) ------------------------


@settings(max_examples=200, deadline=None)
@given(
    orientation=st.sampled_from(range(1, 9)),
    h=st.integers(1, 4000),
    w=st.integers(1, 4000),
    frame_hw=st.sampled_from([(480, 640), (240, 320), (512, 512)]),
    fx=st.floats(0, 1),
    fy=st.floats(0, 1),
)
def test_a_model_centre_reaches_cjxl_inside_the_stored_image(orientation, h, w, frame_hw, fx, fy):
    """frame -> displayed (clamped) -> stored -> cjxl's integers: always a centre cjxl takes."""
    transform = frame_transform((h, w), frame_hw)
    center = transform.to_original(fx * (frame_hw[1] - 1), fy * (frame_hw[0] - 1), clamp=True)
    cx, cy = encoder_center(center, (h, w), orientation)
    sh, sw = stored_hw((h, w), orientation)
    assert 0 <= cx <= sw - 1 and 0 <= cy <= sh - 1


def test_encoder_center_rounds_and_clamps():
    assert encoder_center((10.4, 20.6), (100, 200)) == (10, 21)
    assert encoder_center((199.9, 99.7), (100, 200)) == (199, 99)  # never at the edge
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
    run_encoder(
        cjxl_command("cjxl", source, tmp_path / "b.jxl", encoder_center((w, h), (h, w))),
        tmp_path / "b.jxl",
    )
    assert djxl(tmp_path / "b.jxl", tmp_path / "b.png").shape == (h, w, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.jxl", "b.png", "p.png"]


def _first_final_fraction(
    output: Path, full: np.ndarray, boxes: dict, work: Path, steps: int = 20
) -> dict:
    """For each named box (top, left, bottom, right) of the decoded (displayed) image: the
    smallest prefix fraction (on a 1/steps grid) at which it is within 50 dB of the full decode."""
    data = output.read_bytes()
    found = {}
    for k in range(1, steps + 1):
        (work / "part.jxl").write_bytes(data[: int(k / steps * len(data))])
        try:
            part = djxl(work / "part.jxl", work / "part.png", partial=True)
        except subprocess.CalledProcessError:  # not even the DC yet
            continue
        for name, (top, left, bottom, right) in boxes.items():
            if (
                name not in found
                and psnr(full[top:bottom, left:right], part[top:bottom, left:right]) > 50
            ):
                found[name] = k / steps
    return found


# (input kind, EXIF orientation): every orientation through JPEG lossless transcoding, cjxl's
# default for JPEG input; a rotation and a flip when cjxl re-encodes JPEG pixels and for a PNG
# with an eXIf chunk.
ORIENTATION_CASES = [("jpeg", o) for o in range(1, 9)] + [
    ("jpeg_pixels", 6),
    ("jpeg_pixels", 7),
    ("png_exif", 3),
    ("png_exif", 8),
]


@pytest.mark.parametrize("kind,orientation", ORIENTATION_CASES)
def test_centre_first_group_is_where_the_displayed_centre_is(photo, tmp_path, kind, orientation):
    """libjxl issue 1846: cjxl's centre refers to the stored pixels; ours are displayed.

    What cjxl 0.7 does with an EXIF orientation: it encodes the pixels as
    stored and keeps the orientation in the JPEG XL header (djxl shows the
    upright image), for JPEG lossless transcoding, re-encoded JPEG pixels
    (``--lossless_jpeg=0``) and PNG eXIf alike. So a centre near the
    displayed top-right corner, mapped to the stored image by
    :func:`encoder_center`, makes that corner final in a decoded prefix while
    the opposite one is not; and a transcoded JPEG comes back bit-exact (group
    order 1 works with lossless JPEG transcoding).
    """
    exif = Image.Exif()
    exif[0x0112] = orientation
    source = tmp_path / f"o{orientation}.{'png' if kind == 'png_exif' else 'jpg'}"
    if kind == "png_exif":
        photo.save(source, exif=exif.tobytes())
    else:
        photo.save(source, quality=90, exif=exif.tobytes())
    assert exif_orientation(source) == orientation
    displayed = load_image(source)
    h, w = displayed.shape[:2]
    center = encoder_center((w - 60, 60), (h, w), orientation)
    output = tmp_path / "o.jxl"
    extra = ["--lossless_jpeg=0"] if kind == "jpeg_pixels" else []
    run_encoder(cjxl_command("cjxl", source, output, center, extra), output)
    full = djxl(output, tmp_path / "full.png")
    assert full.shape == displayed.shape  # djxl applies the orientation
    assert np.abs(full.astype(int) - displayed).mean() < 4  # ... and it is the same picture
    data = output.read_bytes()
    (tmp_path / "part.jxl").write_bytes(data[: int(0.33 * len(data))])
    part = djxl(tmp_path / "part.jxl", tmp_path / "part.png", partial=True)
    near = psnr(full[:128, -128:], part[:128, -128:])
    far = psnr(full[-128:, :128], part[-128:, :128])
    assert near > 50 and far < 40, (near, far)
    if kind == "jpeg":
        subprocess.run(
            ["djxl", str(output), str(tmp_path / "back.jpg"), "--quiet"],
            check=True,
            capture_output=True,
        )
        assert (tmp_path / "back.jpg").read_bytes() == source.read_bytes()


def test_encode_directory_maps_a_predicted_centre_through_exif_rotation(
    centroid_predictor, photo, tmp_path
):
    """End to end: model -> displayed centre -> stored centre -> cjxl -> what sharpens first.

    A real photo shown upright, dimmed except its top-right 256x256 (so the
    brightness-centroid model looks up and right), stored rotated with EXIF
    orientation 6 (displayed 512x768 is stored 768x512): the region around the
    predicted centre must be final before the opposite corner.
    """
    upright = np.asarray(photo, np.float64)  # 512 x 768, as displayed
    dimmed = upright * 0.1
    dimmed[:256, -256:] = upright[:256, -256:]
    displayed = Image.fromarray(dimmed.astype(np.uint8))
    stored = displayed.transpose(Image.Transpose.ROTATE_90)  # undone by orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    folder = tmp_path / "in"
    folder.mkdir()
    stored.save(folder / "rotated.jpg", quality=92, exif=exif.tobytes())
    assert load_image(folder / "rotated.jpg").shape == (512, 768, 3)

    summary = encode_directory(folder, tmp_path / "out", centroid_predictor, progress=False)
    [result] = summary.results
    assert result.status == "encoded", result.error
    x, y = result.display_center
    assert x > 400 and y < 256, (x, y)  # up and right, in displayed pixels
    assert result.center == encoder_center((x, y), (512, 768), 6)
    full = djxl(result.output, tmp_path / "full.png")
    assert full.shape == (512, 768, 3)
    top = int(np.clip(round(y) - 32, 0, 512 - 64))
    left = int(np.clip(round(x) - 32, 0, 768 - 64))
    boxes = {"centre": (top, left, top + 64, left + 64), "opposite": (512 - 64, 0, 512, 64)}
    found = _first_final_fraction(result.output, full, boxes, tmp_path)
    assert found["centre"] < found.get("opposite", 1.0), found


# --- one directory, real and bad images -------------------------------------------------------


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_directory_with_bad_images(centroid_predictor, kodak_paths, bad_images, tmp_path):
    images, expected, osie_jpeg = bad_images
    expected = dict(expected)
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
    assert summary.bytes_out == sum(
        (out / f"{n}.jxl").stat().st_size for n, ok in expected.items() if ok
    )
    assert _digests(images) == before  # inputs untouched
    assert not [p for p in out.rglob(".*")]  # no temp files left
    # Outputs decode to the displayed image size; JPEG input is transcoded bit-exact.
    decoded = djxl(out / "sub" / "kodim04.png.jxl", tmp_path / "k.png")
    assert decoded.shape == load_image(kodak_paths[3]).shape
    subprocess.run(
        ["djxl", str(out / "sub/deeper/1001.jpg.jxl"), str(tmp_path / "r.jpg")],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "r.jpg").read_bytes() == osie_jpeg.read_bytes()
    assert djxl(out / "cmyk.jpg.jxl", tmp_path / "c.png").shape == (512, 768, 3)
    # The centre cjxl got is the model's centre, clamped, in the stored image.
    one = by_name["one.png"]
    assert one.center == (0, 0) and one.command[3:9] == [
        "--group_order",
        "1",
        "--center_x",
        "0",
        "--center_y",
        "0",
    ]


def test_never_overwrites_an_input_and_resumes(centroid_predictor, kodak_paths, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(kodak_paths[0], folder / "a.png")
    shutil.copy(kodak_paths[1], folder / "a.png.png")  # what a.png would become with suffix png
    shutil.copy(kodak_paths[2], folder / "b.png")
    before = _digests(folder)
    summary = encode_directory(folder, folder, centroid_predictor, new_suffix="png", progress=False)
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
        "a.png": "skipped",
        "b.png": "encoded",
        "c.png": "skipped",
    }
    assert kept.stat().st_mtime_ns == stamp and (out / "b.png.jxl").is_file()


def test_flags_cjxl_refuses_fail_before_any_work_and_leave_nothing(
    centroid_predictor, kodak_paths, tmp_path
):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(kodak_paths[0], folder / "a.png")
    out = tmp_path / "out"
    with pytest.raises(EncoderFlagsError, match="banana") as raised:
        encode_directory(
            folder, out, centroid_predictor, progress=False, extra_flags=["--distance=banana"]
        )
    assert "cjxl refuses the extra flags --distance=banana" in str(raised.value)
    assert not out.exists()


def test_dry_run_writes_nothing_and_prints_the_commands(centroid_predictor, kodak_paths, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(kodak_paths[0], folder / "a.png")
    printed = []
    summary = encode_directory(
        folder,
        tmp_path / "out",
        centroid_predictor,
        dry_run=True,
        progress=False,
        extra_flags=["-e", "1"],
        echo=printed.append,
    )
    assert summary.results[0].status == "dry_run" and summary.ok
    assert not (tmp_path / "out").exists()
    [line] = printed
    x, y = summary.results[0].center
    assert f"--group_order 1 --center_x {x} --center_y {y}" in line and line.endswith("-e 1")


def test_helpers(tmp_path):
    assert find_encoder("./libjxl/build/tools/cjxl") == shutil.which("cjxl")  # Google's default
    with pytest.raises(FileNotFoundError, match="libjxl-tools"):
        find_encoder("no-such-cjxl-binary")
    assert (
        output_path_for(tmp_path / "in/a/b.jpg", tmp_path / "in", tmp_path / "o")
        == tmp_path / "o/a/b.jpg.jxl"
    )
    # Flags the user gives win over the ones we inject.
    command = cjxl_command("cjxl", "a.png", "a.jxl", (3, 4), ["--center_x=9"], num_threads=1)
    assert command == [
        "cjxl",
        "a.png",
        "a.jxl",
        "--group_order",
        "1",
        "--center_y",
        "4",
        "--num_threads",
        "1",
        "--center_x=9",
    ]
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


def test_unreadable_file_fails_alone(centroid_predictor, kodak_paths, unprivileged):
    """A file we may not read (mode 000) is a per-file failure; the other file is encoded.

    Root reads a mode-000 file anyway, so as root the run happens without root's
    file-access capabilities (see the ``unprivileged`` fixture), which makes the check real.
    """
    folder = Path(tempfile.mkdtemp(prefix="ac_perm_"))
    try:
        images, out = folder / "in", folder / "out"
        images.mkdir()
        out.mkdir()
        for path, mode in ((folder, 0o755), (images, 0o755), (out, 0o777)):
            path.chmod(mode)
        shutil.copy(kodak_paths[0], images / "good.png")
        (images / "good.png").chmod(0o644)
        shutil.copy(kodak_paths[1], images / "locked.png")
        (images / "locked.png").chmod(0)
        summary = unprivileged(encode_directory, images, out, centroid_predictor, progress=False)
        by_name = {r.source.name: r for r in summary.results}
        assert by_name["locked.png"].status == "failed"
        assert "permission denied" in by_name["locked.png"].error
        assert by_name["good.png"].status == "encoded" and not summary.ok
        assert "locked.png: permission denied" in summary.format()
        assert sorted(p.name for p in out.iterdir()) == ["good.png.jxl"]
    finally:
        shutil.rmtree(folder)
