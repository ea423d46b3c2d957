"""The image and coordinate module: loading, resize-with-pad and the frame transform."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from attention_center.core.frames import frame_transform, parse_hw
from attention_center.core.images import (
    ImageLoadError,
    decode_image,
    load_image,
    resize_with_pad,
    rgb_pixels,
)

sizes = st.integers(min_value=1, max_value=5000)
frames = st.sampled_from([(480, 640), (240, 320), (600, 800), (512, 512), (640, 480)])


@settings(max_examples=300, deadline=None)
@given(h=sizes, w=sizes, frame_hw=frames, fx=st.floats(0, 1), fy=st.floats(0, 1))
def test_frame_to_original_to_frame_is_identity_within_half_a_pixel(h, w, frame_hw, fx, fy):
    t = frame_transform((h, w), frame_hw)
    # A point inside the image's area of the frame (portrait or landscape).
    x = float(t.pad_x) - 0.5 + fx * float(t.resized_hw[1])
    y = float(t.pad_y) - 0.5 + fy * float(t.resized_hw[0])
    xo, yo = t.to_original(x, y)
    xf, yf = t.to_frame(xo, yo)
    # Exact inverses; only the clamp to the outermost pixel centres moves a point, by at most
    # half an ORIGINAL pixel (0.5 * scale frame pixels; under half a frame pixel when shrinking).
    tol_x = 0.5 * max(float(t.scale_x), 1e-9) + 1e-3 * max(1.0, float(t.scale_x))
    tol_y = 0.5 * max(float(t.scale_y), 1e-9) + 1e-3 * max(1.0, float(t.scale_y))
    assert abs(float(xf) - x) <= tol_x
    assert abs(float(yf) - y) <= tol_y
    assert 0 <= xo <= w - 1 and 0 <= yo <= h - 1


@settings(max_examples=200, deadline=None)
@given(h=sizes, w=sizes, frame_hw=frames)
def test_original_corners_map_into_the_frame_and_back_exactly(h, w, frame_hw):
    t = frame_transform((h, w), frame_hw)
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1], [(w - 1) / 2, (h - 1) / 2]])
    in_frame = t.points_to_frame(corners)
    assert np.all(in_frame[:, 0] >= -0.5) and np.all(in_frame[:, 0] <= frame_hw[1] - 0.5 + 1e-3)
    assert np.all(in_frame[:, 1] >= -0.5) and np.all(in_frame[:, 1] <= frame_hw[0] - 0.5 + 1e-3)
    back = t.points_to_original(in_frame, clamp=False)
    np.testing.assert_allclose(back, corners, atol=1e-3 * max(h, w, 1))


def test_clamping_puts_a_centre_on_the_padding_at_the_edge():
    t = frame_transform((600, 400), (480, 640))  # portrait: padded left and right
    assert float(t.pad_x) > 0 and float(t.pad_y) == 0
    xo, yo = t.to_original(0.0, -10.0)
    assert (xo, yo) == (0.0, 0.0)
    xo, yo = t.to_original(639.0, 500.0)  # right padding, below the frame
    assert (xo, yo) == (399.0, 599.0)


@pytest.mark.parametrize(
    "h,w",
    [(600, 800), (256, 256), (512, 768), (768, 512), (427, 640), (1, 1), (3, 1000), (333, 500)],
)
def test_geometry_matches_tensorflow_resize_with_pad(h, w):
    tf = pytest.importorskip("tensorflow")
    ones = tf.ones((h, w, 1))
    padded = tf.image.resize_with_pad(ones, 480, 640, method="bilinear").numpy()[..., 0]
    rows = np.flatnonzero(padded.max(axis=1) > 0.5)
    cols = np.flatnonzero(padded.max(axis=0) > 0.5)
    t = frame_transform((h, w), (480, 640))
    assert (int(t.pad_y), int(t.pad_x)) == (rows[0], cols[0])
    assert (int(t.resized_hw[0]), int(t.resized_hw[1])) == (len(rows), len(cols))
    # The same code runs on TF tensors (as inside tf.data).
    t_tf = frame_transform(
        (tf.constant(float(h)), tf.constant(float(w))),
        (480.0, 640.0),
        floor=tf.floor,
        maximum=tf.maximum,
    )
    assert float(t_tf.pad_x) == float(t.pad_x) and float(t_tf.resized_hw[0]) == float(
        t.resized_hw[0]
    )


def test_resize_with_pad_is_tensorflow_bicubic_antialias(kodak_paths):
    """The frame is TensorFlow's (all 24 photos and the centres: resize_parity_test.py)."""
    tf = pytest.importorskip("tensorflow")
    image = load_image(kodak_paths[0])
    ours, t = resize_with_pad(image, (480, 640))
    theirs = tf.image.resize_with_pad(
        tf.convert_to_tensor(image, tf.float32) / 255.0, 480, 640, method="bicubic", antialias=True
    ).numpy()
    assert ours.shape == theirs.shape == (480, 640, 3)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)  # overshoot included
    assert np.all(ours[: int(t.pad_y)] == 0)


def _save(tmp_path, name, image, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def test_load_image_converts_every_mode_to_rgb(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8)
    base = Image.fromarray(rgb)
    cases = {
        "gray.png": base.convert("L"),
        "rgba.png": base.convert("RGBA"),
        "palette.png": base.convert("P"),
        "cmyk.jpg": base.convert("CMYK"),
        "one_bit.png": base.convert("1"),
    }
    for name, image in cases.items():
        out = load_image(_save(tmp_path, name, image))
        assert out.shape == (20, 30, 3) and out.dtype == np.uint8, name
    sixteen = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)  # mode I;16
    out = load_image(_save(tmp_path, "sixteen.png", sixteen))
    assert out.shape == (20, 30, 3)
    np.testing.assert_allclose(out[..., 0].astype(int), rgb[..., 0].astype(int), atol=1)


def test_load_image_applies_exif_orientation(tmp_path):
    array = np.zeros((20, 40, 3), np.uint8)
    array[:, :10] = 255  # a white band on the left of the stored pixels
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes(), quality=95)
    shown = load_image(path)
    assert shown.shape == (40, 20, 3)  # upright: portrait
    assert shown[:10].mean() > 200 and shown[-10:].mean() < 50  # the band is now on top


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"", "empty file"),
        (b"this is not an image at all", "not an image"),
    ],
)
def test_load_image_names_the_file_and_the_problem(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageLoadError) as error:
        load_image(path)
    assert str(path) in str(error.value) and reason in str(error.value)


def test_load_image_rejects_truncated_and_missing_files(tmp_path, kodak_paths):
    buffer = io.BytesIO()
    Image.open(kodak_paths[1]).save(buffer, format="JPEG")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(truncated)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "missing.png")


def test_parse_hw():
    assert parse_hw("480x640") == (480, 640)
    with pytest.raises(ValueError):
        parse_hw("640")


@pytest.fixture()
def pillow_blocks():
    """Counts Pillow's image memory (its allocator's own statistics, which tracemalloc does
    not see) in 64 KiB blocks: ``count(fn)`` -> blocks ``fn()`` allocated."""
    size = Image.core.get_block_size()
    Image.core.set_block_size(1 << 16)

    def count(fn) -> int:
        Image.core.reset_stats()
        fn()
        return Image.core.get_stats()["allocated_blocks"]

    yield count
    Image.core.set_block_size(size)


@pytest.mark.parametrize(
    "name,orientation,images",
    [("photo.png", 1, 1), ("photo.jpg", 1, 1), ("turned.jpg", 6, 2), ("alpha.png", 1, 4)],
)
def test_a_decode_copies_no_full_size_image_needlessly(
    tmp_path, kodak_paths, pillow_blocks, name, orientation, images
):
    """The pixels are Pillow's own decode of the file (turned by ``exif_transpose``,
    alpha composited on white), and the decode holds no more full-size images than it
    needs: the file's, the turned one, the compositing's (a white one, the composite, its
    RGB). It made two more: a copy by ``exif_transpose`` of an unturned image, and one by
    converting RGB to RGB (or RGBA to RGBA): 3 for an RGB photo, 6 with alpha."""
    with Image.open(kodak_paths[0]) as image:
        photo = image.convert("RGB").crop((0, 0, 384, 256))
    path, exif = tmp_path / name, Image.Exif()
    exif[0x0112] = orientation
    if name == "alpha.png":
        alpha = np.tile(np.linspace(0, 255, photo.width, dtype=np.uint8), (photo.height, 1))
        photo.putalpha(Image.fromarray(alpha))
    photo.save(path, exif=exif.tobytes(), **({"quality": 90} if name.endswith("jpg") else {}))
    with Image.open(path) as image:  # independent of decode_image
        upright = ImageOps.exif_transpose(image)
    if upright.mode == "RGBA":
        white = Image.new("RGBA", upright.size, (255, 255, 255, 255))
        upright = Image.alpha_composite(white, upright)
    expected = np.asarray(upright.convert("RGB"))

    decoded = []
    used = pillow_blocks(lambda: decoded.append(decode_image(path)))
    one = pillow_blocks(lambda: Image.new("RGB", photo.size))
    np.testing.assert_array_equal(decoded[0].pixels, expected)
    assert decoded[0].original_hw == expected.shape[:2]
    assert used <= (images + 0.5) * one, (used, one)


def test_rgb_pixels_of_an_rgb_image_do_not_follow_it(kodak_paths):
    """No conversion copies an RGB image any more: the array is still the pixels' own."""
    with Image.open(kodak_paths[0]) as image:
        photo = image.convert("RGB")
    pixels = rgb_pixels(photo)
    before = pixels.copy()
    photo.paste((1, 2, 3), (0, 0, 50, 50))
    np.testing.assert_array_equal(pixels, before)
    assert np.array_equal(rgb_pixels(photo)[:50, :50], np.full((50, 50, 3), (1, 2, 3)))
