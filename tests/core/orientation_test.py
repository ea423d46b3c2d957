"""EXIF orientation and the frame transform, as properties (hypothesis).

:mod:`attention_center.core.orientation` maps points of the image as displayed to the
image as stored (what cjxl's ``--center_x/--center_y`` address) and back; it must agree
with Pillow's ``ImageOps.exif_transpose`` (what every decode applies) pixel for pixel, and
each orientation must round-trip. :mod:`attention_center.core.frames` must keep every
centre inside the image, wherever in the frame (padding included) the model put it.
Points are ``(x, y)``, 0-based pixel centres; sizes ``(h, w)``.

Which orientation a file has (:func:`read_orientation`, :func:`orientation_of`) must be
the turn the decode applies, for every format and wherever a PNG keeps its eXIf chunk, and
must be read from the metadata without decoding the pixels.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, ImageOps

from attention_center.core.frames import frame_transform
from attention_center.core.images import decode_image
from attention_center.core.orientation import (
    ORIENTATIONS,
    displayed_hw,
    displayed_to_stored,
    orientation_of,
    read_orientation,
    stored_hw,
    stored_to_displayed,
    swaps_axes,
)

orientations = st.sampled_from(ORIENTATIONS)
small = st.integers(min_value=1, max_value=40)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_displayed_to_stored_inverts_pillow_exif_transpose(orientation):
    stored = np.arange(5 * 7, dtype=np.int32).reshape(5, 7)  # each pixel names its position
    image = Image.fromarray(stored)
    image.getexif()[0x0112] = orientation
    displayed = np.asarray(ImageOps.exif_transpose(image))
    height, width = displayed.shape
    for y in range(height):
        for x in range(width):
            xs, ys = displayed_to_stored(x, y, (height, width), orientation)
            assert stored[ys, xs] == displayed[y, x], (x, y)


@settings(max_examples=150, deadline=None)
@given(orientation=orientations, h=small, w=small, data=st.data())
def test_every_pixel_lands_where_pillow_puts_it(orientation, h, w, data):
    """For any stored size, the pixel at a displayed point is the stored pixel the map names."""
    stored = np.arange(h * w, dtype=np.int32).reshape(h, w)
    image = Image.fromarray(stored)
    image.getexif()[0x0112] = orientation
    displayed = np.asarray(ImageOps.exif_transpose(image))
    assert displayed.shape == displayed_hw((h, w), orientation)
    y = data.draw(st.integers(0, displayed.shape[0] - 1))
    x = data.draw(st.integers(0, displayed.shape[1] - 1))
    xs, ys = displayed_to_stored(x, y, displayed.shape, orientation)
    assert stored[ys, xs] == displayed[y, x]
    assert stored_to_displayed(xs, ys, (h, w), orientation) == (x, y)


@settings(max_examples=300, deadline=None)
@given(
    orientation=orientations,
    h=st.integers(1, 6000),
    w=st.integers(1, 6000),
    fx=st.floats(0, 1),
    fy=st.floats(0, 1),
)
def test_points_round_trip_and_stay_inside_both_images(orientation, h, w, fx, fy):
    """displayed -> stored -> displayed is the identity for any real point of the image."""
    x, y = fx * (w - 1), fy * (h - 1)
    xs, ys = displayed_to_stored(x, y, (h, w), orientation)
    sh, sw = stored_hw((h, w), orientation)
    assert (sh, sw) == ((w, h) if swaps_axes(orientation) else (h, w))
    assert 0 <= xs <= sw - 1 and 0 <= ys <= sh - 1
    xd, yd = stored_to_displayed(xs, ys, (sh, sw), orientation)
    assert xd == pytest.approx(x, abs=1e-9) and yd == pytest.approx(y, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(orientation=orientations, h=st.integers(1, 500), w=st.integers(1, 500))
def test_arrays_of_points_map_like_single_points(orientation, h, w):
    rng = np.random.default_rng(h * 1000 + w)
    xs, ys = rng.uniform(0, w - 1, 16), rng.uniform(0, h - 1, 16)
    sx, sy = displayed_to_stored(xs, ys, (h, w), orientation)
    for i in range(16):
        assert displayed_to_stored(xs[i], ys[i], (h, w), orientation) == pytest.approx(
            (sx[i], sy[i])
        )


@pytest.mark.parametrize("bad", [0, 9, -1, None, "six"])
def test_an_invalid_orientation_is_the_identity(bad):
    assert displayed_to_stored(3.0, 4.0, (10, 20), bad) == (3.0, 4.0)
    assert stored_hw((10, 20), bad) == (10, 20) and not swaps_axes(bad)


frame_sizes = st.sampled_from([(480, 640), (240, 320), (120, 160), (512, 512), (640, 480)])


@settings(max_examples=300, deadline=None)
@given(
    h=st.integers(1, 8000),
    w=st.integers(1, 8000),
    frame_hw=frame_sizes,
    x=st.floats(-2000, 3000),
    y=st.floats(-2000, 3000),
)
def test_any_frame_point_becomes_a_centre_inside_the_image(h, w, frame_hw, x, y):
    """Wherever the model's centre is (padding, past the frame), the clamped centre is a
    point of the image; a point already inside the image's area is moved by under a pixel
    of the original."""
    transform = frame_transform((h, w), frame_hw)
    xo, yo = transform.to_original(x, y, clamp=True)
    assert 0 <= xo <= w - 1 and 0 <= yo <= h - 1
    [[px, py]] = transform.points_to_original(np.array([[x, y]]), clamp=True)
    assert (px, py) == pytest.approx((xo, yo))
    ux, uy = transform.to_original(x, y, clamp=False)
    if -0.5 <= ux <= w - 0.5 and -0.5 <= uy <= h - 0.5:
        assert abs(xo - ux) <= 0.5 + 1e-6 and abs(yo - uy) <= 0.5 + 1e-6


# --- The orientation of a file: the decode's, read without decoding ---------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _exif_chunk(orientation) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _chunk(b"eXIf", exif.tobytes()[len(b"Exif\0\0") :])


def _xmp_chunk(orientation: int) -> bytes:
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        f'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="{orientation}"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    return _chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp.encode())


def _png(image: Image.Image, before: bytes = b"", after: bytes = b"") -> bytes:
    """``image`` as a PNG with the chunks ``before`` put just before its first IDAT and
    ``after`` just before IEND (Pillow writes eXIf only before IDAT)."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    data, out, position = buffer.getvalue(), buffer.getvalue()[:8], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT" and before:
            out, before = out + before, b""
        if kind == b"IEND":
            out += after
        out += data[position : position + 12 + length]
        position += 12 + length
    return out


@pytest.fixture(scope="module")
def photo(kodak_paths) -> Image.Image:
    """A real photo, small (landscape, so a quarter turn shows)."""
    with Image.open(kodak_paths[0]) as image:
        return image.convert("RGB").crop((100, 100, 196, 164))


@pytest.fixture()
def loads(monkeypatch) -> list:
    """Every decode of pixels (``ImageFile.load``, still run) while the test runs."""
    calls, load = [], ImageFile.ImageFile.load

    def counted(self, *args, **kwargs):
        calls.append(self.format)
        return load(self, *args, **kwargs)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counted)
    return calls


def _write(tmp_path, name: str, photo: Image.Image, orientation: int) -> tuple:
    """``(path, stored RGB pixels)`` of a file of kind ``name`` holding ``photo`` with the
    EXIF ``orientation`` where that kind keeps it."""
    path, exif = tmp_path / name, Image.Exif()
    exif[0x0112] = orientation
    if name == "exif_before_idat.png":
        path.write_bytes(_png(photo, before=_exif_chunk(orientation)))
    elif name == "exif_after_idat.png":  # honoured by the decode: Pillow reads it as it loads
        path.write_bytes(_png(photo, after=_exif_chunk(orientation)))
    elif name == "xmp_after_idat.png":
        path.write_bytes(_png(photo, after=_xmp_chunk(orientation)))
    elif name == "both_sides_of_idat.png":  # the one before IDAT counts
        path.write_bytes(_png(photo, before=_exif_chunk(orientation), after=_exif_chunk(2)))
    elif name == "rotated.jpg":
        photo.save(path, quality=90, exif=exif.tobytes())
    elif name == "lossless.webp":
        photo.save(path, lossless=True, exif=exif.tobytes())
    elif name == "stored.tiff":  # Pillow's TIFF decoder turns it itself
        photo.save(path, exif=exif.tobytes())
    if name == "rotated.jpg":  # Pillow's own decode of the file, not turned
        with Image.open(path) as image:
            return path, np.asarray(image.convert("RGB"))
    return path, np.asarray(photo)  # lossless


KINDS = [
    "exif_before_idat.png",
    "exif_after_idat.png",
    "xmp_after_idat.png",
    "both_sides_of_idat.png",
    "rotated.jpg",
    "lossless.webp",
    "stored.tiff",
]


@pytest.mark.parametrize("orientation", [3, 6, 7, 8])
@pytest.mark.parametrize("name", KINDS)
def test_read_orientation_is_the_turn_the_decode_applies(tmp_path, photo, name, orientation):
    """Every displayed pixel of the decode is the stored pixel displayed_to_stored names,
    with the orientation read_orientation gives (what maps cjxl's centre)."""
    path, stored = _write(tmp_path, name, photo, orientation)
    found = read_orientation(path)
    assert found == orientation
    shown = decode_image(path).pixels
    assert shown.shape[:2] == displayed_hw(stored.shape[:2], found)
    ys, xs = np.mgrid[: shown.shape[0], : shown.shape[1]]
    sx, sy = displayed_to_stored(xs, ys, shown.shape[:2], found)
    np.testing.assert_array_equal(shown, stored[sy, sx])


@pytest.mark.parametrize("name", ["exif_after_idat.png", "xmp_after_idat.png", "plain.png"])
def test_read_orientation_of_a_png_decodes_no_pixel(tmp_path, photo, loads, name):
    """Pillow's PNG getexif decodes the whole image to look past IDAT (half a second for a
    24 MP photo, paid per image by encode): the chunks after it are walked, not decoded."""
    path = tmp_path / name
    after = {"exif_after_idat.png": _exif_chunk(6), "xmp_after_idat.png": _xmp_chunk(8)}
    path.write_bytes(_png(photo, after=after.get(name, b"")))
    expected = {"exif_after_idat.png": 6, "xmp_after_idat.png": 8}.get(name, 1)
    assert read_orientation(path) == expected
    assert loads == []
    with Image.open(path) as image:
        before = dict(image.info)
        assert orientation_of(image) == expected
        assert image.info == before and image.tile  # the image is as it was, still to decode
        assert np.array_equal(np.asarray(image), np.asarray(photo))  # and decodes as before


def test_read_orientation_of_many_idat_chunks_and_a_cut_tail(tmp_path, photo, loads):
    """The walk past the image data: 100-byte IDAT chunks, unknown and text chunks before the
    eXIf; a file cut in its tail (the decode fails there) reads as no orientation."""
    data = _png(photo.resize((480, 320)))
    idat = b"".join(
        data[p + 8 : p + 8 + n] for p, n in _chunks(data) if data[p + 4 : p + 8] == b"IDAT"
    )
    [(p, n)] = [(p, n) for p, n in _chunks(data) if data[p + 4 : p + 8] == b"IHDR"]
    tail = _chunk(b"abCd", b"xy") + _chunk(b"tEXt", b"Comment\0hi") + _exif_chunk(5)
    path = tmp_path / "many.png"
    path.write_bytes(
        data[:8]
        + data[p : p + 12 + n]
        + b"".join(_chunk(b"IDAT", idat[i : i + 100]) for i in range(0, len(idat), 100))
        + tail
        + _chunk(b"IEND", b"")
    )
    assert read_orientation(path) == 5
    assert loads == []
    assert decode_image(path).pixels.shape == (480, 320, 3)  # turned by 5 as well
    path.write_bytes(path.read_bytes()[:-30])  # into the eXIf chunk
    assert read_orientation(path) == 1


def _chunks(data: bytes):
    """``(offset, data length)`` of each chunk of a PNG."""
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        yield position, length
        position += 12 + length


def _raw_exif(kind: int, count: int, value: bytes) -> bytes:
    """EXIF holding one Orientation entry of any TIFF type (Pillow writes only a SHORT)."""
    head = b"Exif\0\0MM\0\x2a\0\0\0\x08" + struct.pack(">H", 1)
    if len(value) <= 4:
        return head + struct.pack(">HHI", 0x0112, kind, count) + value.ljust(4, b"\0") + bytes(4)
    return head + struct.pack(">HHII", 0x0112, kind, count, 26) + bytes(4) + value


@pytest.mark.parametrize(
    "exif,expected",
    [
        (_raw_exif(3, 1, b"\0\x06"), 6),  # a SHORT: what cameras write
        (_raw_exif(5, 1, struct.pack(">II", 6, 1)), 6),  # a RATIONAL 6/1: Pillow turns it
        (_raw_exif(5, 1, struct.pack(">II", 13, 2)), 1),  # 6.5: Pillow does not
        (_raw_exif(2, 2, b"6\0"), 1),  # the text "6": Pillow does not
        (_raw_exif(3, 1, b"\0\x09"), 1),  # not an orientation
    ],
    ids=["short", "rational-6/1", "rational-13/2", "text", "nine"],
)
@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_an_odd_orientation_value_counts_as_the_decode_counts_it(
    tmp_path, photo, exif, expected, suffix
):
    """Pillow's ``exif_transpose`` looks the value up in a dict: ``6/1`` turns the image,
    ``"6"`` and ``6.5`` do not (they used to read as 6 while the decode did not turn)."""
    path = tmp_path / f"odd{suffix}"
    photo.save(path, exif=exif, **({"quality": 95} if suffix == ".jpg" else {}))
    assert read_orientation(path) == expected
    with Image.open(path) as image:
        assert (ImageOps.exif_transpose(image).size != image.size) == (expected != 1)
    assert decode_image(path).pixels.shape[:2] == displayed_hw((64, 96), expected)
