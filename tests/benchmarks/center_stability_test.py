"""benchmarks/center_stability.py: its perturbations, and its jitter on the bundled int8 model.

Real photos (the OSIE parity photos shipped in export/photos/parity, MIT licence) and the
real TFLite interpreter. The shift must move the content the way its offset says: a model
that follows a 48-px move of the photo lands far nearer ``centre + offset`` than its old
centre.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO

from attention_center.core.frames import frame_transform
from attention_center.inference.predictors import load_predictor
from benchmarks.center_stability import (
    Perturbation,
    group_changed,
    jitter,
    jpeg_reencoded,
    load_photos,
    markdown_table,
    measure,
    noisy,
    perturbations,
    shifted,
)
from export import images


@pytest.fixture(scope="module")
def photos():
    names, frames, transforms, errors = load_photos(
        images.paths_from(REPO / "export/photos/parity", 3)
    )
    assert len(frames) == 3 and not errors
    assert transforms[0].original_hw == (384.0, 512.0)  # the shipped 512x384 parity photos
    return names, frames


def test_shift_moves_content_right_and_down():
    frames = np.random.default_rng(0).random((2, 6, 8, 3), dtype=np.float32)
    moved = shifted(frames, dx=2, dy=1)
    assert moved.shape == frames.shape
    np.testing.assert_array_equal(moved[:, 1:, 2:], frames[:, :-1, :-2])
    np.testing.assert_array_equal(moved[:, 0, 2:], frames[:, 0, :-2])  # the edge row repeats
    with pytest.raises(ValueError, match="dx=-1"):
        shifted(frames, dx=-1)


def test_jpeg_and_noise_change_little_and_noise_is_seeded(photos):
    _, frames = photos
    jpeg = jpeg_reencoded(frames[:1], quality=90)
    difference = np.abs(jpeg - frames[:1]).mean()
    assert 0.0 < difference < 0.02
    a, b = noisy(frames[:1], seed=3), noisy(frames[:1], seed=3)
    np.testing.assert_array_equal(a, b)
    assert np.std(a - frames[:1]) == pytest.approx(1 / 255, rel=0.1)  # clipping trims a little
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_jitter_follows_the_content_on_the_bundled_model(photos):
    names, frames = photos
    model = load_predictor("default")
    identity = Perturbation("same", "unchanged", lambda f: f.copy())
    big_move = Perturbation("shift48", "48 px", lambda f: shifted(f, 48, 48), (48.0, 48.0))
    centers, results = measure({"default": model}, frames, names, [identity, big_move])
    by = {r.perturbation: r for r in results}
    assert by["same"].max_px == 0.0  # the interpreter is deterministic
    moved = model.predict_frames(shifted(frames, 48, 48))["center"]
    np.testing.assert_allclose(by["shift48"].distances, jitter(centers["default"], moved, (48, 48)))
    # Measured from where the content went, the centre moved much less than from where it was.
    assert by["shift48"].mean_px < 0.5 * jitter(centers["default"], moved).mean()
    assert by["shift48"].worst_image in names
    table = markdown_table(results, [identity, big_move], anchor="default")
    assert "| default | 0.00 px (0.00%) / 0.00 px / 0 / 0% |" in table
    assert not by["same"].group_changed.any()
    assert table.rstrip().endswith("| - / 1.00 |")  # no ratio over a zero


def test_known_perturbations():
    known = perturbations(seed=0)
    assert set(known) == {"shift1", "jpeg90", "noise1"}
    assert known["shift1"].offset == (1.0, 1.0)


def test_group_changed_in_the_photos_own_pixels():
    centers = np.array([[255.0, 10.0], [255.0, 10.0], [100.0, 100.0]])
    moved = np.array([[256.6, 10.0], [255.4, 10.0], [100.0, 100.0]])
    # A frame-sized photo: frame pixels are its pixels; group columns split at x = 255.5.
    same_size = group_changed(centers, moved, [frame_transform((480, 640))] * 3)
    np.testing.assert_array_equal(same_size, [True, False, False])
    # A photo twice the frame (x -> 2x + 0.5): 255 -> 510.5, 256.6 -> 513.7: group 1 -> 2.
    twice = group_changed(centers, moved, [frame_transform((960, 1280))] * 3)
    np.testing.assert_array_equal(twice, [True, False, False])
    # 127 -> 254.5 and 128.2 -> 256.9 cross from group 0 to 1 there, not on the frame-sized photo.
    crossing = group_changed(
        np.array([[127.0, 5.0]]), np.array([[128.2, 5.0]]), [frame_transform((960, 1280))]
    )
    assert crossing.tolist() == [True]
    assert group_changed(
        np.array([[127.0, 5.0]]), np.array([[128.2, 5.0]]), [frame_transform((480, 640))]
    ).tolist() == [False]
