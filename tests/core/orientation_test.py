"""EXIF orientation and the frame transform, as properties (hypothesis).

:mod:`attention_center.core.orientation` maps points of the image as displayed to the
image as stored (what cjxl's ``--center_x/--center_y`` address) and back; it must agree
with Pillow's ``ImageOps.exif_transpose`` (what every decode applies) pixel for pixel, and
each orientation must round-trip. :mod:`attention_center.core.frames` must keep every
centre inside the image, wherever in the frame (padding included) the model put it.
Points are ``(x, y)``, 0-based pixel centres; sizes ``(h, w)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from attention_center.core.frames import frame_transform
from attention_center.core.orientation import (
    ORIENTATIONS,
    displayed_hw,
    displayed_to_stored,
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
